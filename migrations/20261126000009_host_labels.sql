-- Host groups come from two places: the agent's configuration and labels set in the UI.
-- groups_json stays the union of both, so everything that reads groups keeps working.
ALTER TABLE hosts ADD COLUMN agent_groups_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE hosts ADD COLUMN labels_json TEXT NOT NULL DEFAULT '[]';
UPDATE hosts SET agent_groups_json = groups_json;
