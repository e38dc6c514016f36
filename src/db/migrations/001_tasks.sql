-- Runs with search_path set to the taskpod schema.
CREATE TABLE tasks (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id           char(32) NOT NULL UNIQUE
                   DEFAULT replace(gen_random_uuid()::text, '-', '')
                   CHECK (job_id ~ '^[0-9a-f]{32}$'),
  task_type        text NOT NULL CHECK (task_type ~ '^[a-z][a-z0-9_]{0,62}$'),
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled')),
  params           jsonb,
  error_message    text,
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  priority         integer NOT NULL DEFAULT 0,
  timeout_seconds  integer CHECK (timeout_seconds > 0),
  progress         real CHECK (progress >= 0 AND progress <= 1),
  progress_message text,
  k8s_job_name     text,
  worker           text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  queued_at        timestamptz,
  started_at       timestamptz,
  finished_at      timestamptz,
  heartbeat_at     timestamptz,
  run_after        timestamptz
);

-- What the dispatcher and `run --next` claim: pending tasks by priority, oldest first.
CREATE INDEX tasks_pending_idx ON tasks (priority DESC, id) WHERE status = 'pending';
CREATE INDEX tasks_active_idx ON tasks (status, task_type) WHERE status IN ('queued', 'running');
CREATE INDEX tasks_type_status_idx ON tasks (task_type, status);

CREATE FUNCTION tasks_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;

CREATE TRIGGER tasks_touch BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_touch();

-- Wakes dispatchers (LISTEN "<schema>.tasks") when a task is created or changes status.
CREATE FUNCTION tasks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_TABLE_SCHEMA || '.tasks',
    json_build_object('id', NEW.id, 'task_type', NEW.task_type, 'status', NEW.status)::text);
  RETURN NULL;
END $$;

CREATE TRIGGER tasks_notify_insert AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_notify();
CREATE TRIGGER tasks_notify_status AFTER UPDATE OF status ON tasks FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION tasks_notify();
