-- Runs with search_path set to the taskpod schema.
-- launches: how many Jobs (or local runners) the dispatcher has started for the task; the next
-- Job is <prefix>-<id>-<launches + 1>, so every launch has its own deterministic name.
ALTER TABLE tasks ADD COLUMN launches integer NOT NULL DEFAULT 0 CHECK (launches >= 0);
-- Per-task resources for its Job, over the plugin's hints and the per-type configuration.
ALTER TABLE tasks ADD COLUMN resources jsonb;
-- The last lines of a failed pod's log, recorded by the dispatcher with the failure reason.
ALTER TABLE tasks ADD COLUMN log_tail text;

-- The dispatcher's periodic compare reads tasks that hold a Job name.
CREATE INDEX tasks_job_name_idx ON tasks (k8s_job_name) WHERE k8s_job_name IS NOT NULL;
