-- Rollouts of renewals: a durable state machine the console resumes after a restart.
CREATE TABLE rollouts (
    id            INTEGER PRIMARY KEY,
    renewal_id    INTEGER NOT NULL REFERENCES renewals (id),
    state         TEXT    NOT NULL CHECK (state IN ('scheduled', 'running', 'paused',
                      'succeeded', 'failed', 'cancelled')),
    start_at      INTEGER NOT NULL,          -- when it may start (now, or the scheduled time)
    time_zone     TEXT    NOT NULL DEFAULT 'UTC', -- as the admin entered it, for display
    wave_hosts    INTEGER,                   -- hosts per wave after the canary, or
    wave_percent  INTEGER,                   -- a share of the remaining hosts
    max_failures  INTEGER NOT NULL DEFAULT 1,
    created_by    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    detail        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX rollouts_active ON rollouts (state) WHERE state IN ('scheduled', 'running');

-- Each endpoint a rollout renews. Wave 0 is the canary host.
CREATE TABLE rollout_targets (
    id            INTEGER PRIMARY KEY,
    rollout_id    INTEGER NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    host_id       INTEGER NOT NULL REFERENCES hosts (id),
    endpoint_key  TEXT    NOT NULL,
    endpoint_name TEXT    NOT NULL,
    wave          INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'preflighted',
                      'applied', 'verified', 'failed', 'rolled_back', 'skipped', 'cancelled')),
    job_id        TEXT    UNIQUE,
    step          TEXT    NOT NULL DEFAULT '',
    detail        TEXT    NOT NULL DEFAULT '',
    updated_at    INTEGER NOT NULL,
    UNIQUE (rollout_id, host_id, endpoint_key)
);
CREATE INDEX rollout_targets_rollout ON rollout_targets (rollout_id, wave);

-- When hosts of a group may be changed: weekdays and a time range in a time zone.
CREATE TABLE maintenance_windows (
    id           INTEGER PRIMARY KEY,
    group_name   TEXT    NOT NULL,
    weekdays     TEXT    NOT NULL,   -- "mon,tue,wed"
    start_minute INTEGER NOT NULL,   -- minutes after midnight, local time
    end_minute   INTEGER NOT NULL,   -- may be below start_minute: the window spans midnight
    utc_offset_minutes INTEGER NOT NULL DEFAULT 0
);
