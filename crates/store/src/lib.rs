//! The storage layer: every SQL query of certfleet lives here, typed (SQLite via sqlx).
//! Used by the server and by web's server functions (ssr only). Empty until the console
//! issue brings the schema.
