-- A client host group attached to a server endpoint: every host in the group must trust the
-- endpoint (by its name and port). The console sends each client its list; the agent checks
-- those endpoints besides its own [[trust]] tables and installs nothing for them.
CREATE TABLE client_groups (
    server_host_id INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    endpoint_key   TEXT    NOT NULL,
    group_name     TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (server_host_id, endpoint_key, group_name)
);
CREATE INDEX client_groups_by_group ON client_groups (group_name);
