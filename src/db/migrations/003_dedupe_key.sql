-- Runs with search_path set to the taskpod schema.
-- dedupe_key: a caller's name for "this piece of work", unique across tasks, so a submit that
-- is repeated (a CronJob's Job retried by Kubernetes, a client retrying after a timeout) finds
-- the task it already made instead of making a second one. NULL for tasks without one.
ALTER TABLE tasks ADD COLUMN dedupe_key text UNIQUE
  CHECK (length(dedupe_key) BETWEEN 1 AND 255 AND dedupe_key !~ '[[:cntrl:]]');
