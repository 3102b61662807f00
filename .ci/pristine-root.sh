#!/usr/bin/env bash
# Run two commands in a clean clone inside a pristine Debian root made with debootstrap.
# Usage: bash .ci/pristine-root.sh DEMO_COMMAND TEST_COMMAND   (run as root, from a checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_CMD=$1
TEST_CMD=$2
t0=$(date +%s)
stamp() { echo "ci: [$(( $(date +%s) - t0 )) s] $*"; }

if [ "$(id -u)" != 0 ]; then echo "ci: the pristine-root stage needs root (debootstrap, chroot, mount)" >&2; exit 1; fi
if ! command -v debootstrap >/dev/null; then
  stamp "installing debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# The Debian release and mirror this machine already uses (so the root gets the same packages).
. /etc/os-release
SUITE=${AVATAR_CI_SUITE:-${VERSION_CODENAME:-bookworm}}
MIRROR=${AVATAR_CI_MIRROR:-$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)}
[ -n "$MIRROR" ] || { echo "ci: no Debian mirror found in /etc/apt; set AVATAR_CI_MIRROR" >&2; exit 1; }

ROOT=$(mktemp -d /tmp/avatar-ci-root.XXXXXX)
MOUNTS=()
cleanup() {
  local rc=$?
  for (( i=${#MOUNTS[@]}-1; i>=0; i-- )); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
  # Only delete when nothing is mounted below the root any more (never reach into the host).
  if ! grep -q " $ROOT" /proc/mounts; then rm -rf --one-file-system "$ROOT"; else
    echo "ci: left $ROOT in place: something is still mounted there" >&2; fi
  stamp "finished (exit $rc)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_into() {  # mount_into SOURCE TARGET [ro]: bind-mount SOURCE at ROOT/TARGET
  local src=$1 dst=$ROOT$2
  if [ -d "$src" ]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")"; touch "$dst"; fi
  mount --bind "$src" "$dst"; MOUNTS+=("$dst")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$dst"; fi
}

stamp "debootstrap $SUITE (minbase + python3 ca-certificates git) into $ROOT"
for try in 1 2 3; do
  if debootstrap --variant=minbase --include=python3,ca-certificates,git "$SUITE" "$ROOT" "$MIRROR" \
      >"$ROOT.debootstrap.log" 2>&1; then break; fi
  tail -5 "$ROOT.debootstrap.log" >&2
  [ "$try" = 3 ] && { echo "ci: debootstrap failed three times" >&2; exit 1; }
  stamp "debootstrap failed; retrying"; sleep 10
done
rm -f "$ROOT.debootstrap.log"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# Certificate authorities this machine's administrator added (a TLS-inspecting proxy, say) are part
# of "a user's machine here": the root trusts them too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  chroot "$ROOT" update-ca-certificates >/dev/null 2>&1
fi
# The Debian mirror's security and updates suites, as on the host.
[ -f /etc/apt/sources.list.d/debian.sources ] && cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/" \
  && rm -f "$ROOT/etc/apt/sources.list"

mount -t proc proc "$ROOT/proc"; MOUNTS+=("$ROOT/proc")
mount -t sysfs sysfs "$ROOT/sys"; MOUNTS+=("$ROOT/sys")
# debootstrap made the device nodes; /dev itself is not bound, so nothing mounted here reaches the host's.
mount -t devpts devpts "$ROOT/dev/pts" -o newinstance,ptmxmode=0666 2>/dev/null && MOUNTS+=("$ROOT/dev/pts") || true
mount -t tmpfs tmpfs "$ROOT/dev/shm"; MOUNTS+=("$ROOT/dev/shm")
# Local package folders and pip configuration, as a user's machine here has them (read-only).
for path in /opt/wheels /opt/pypi /opt/pypi-more /etc/xdg/pip /etc/pip.conf; do
  [ -e "$path" ] && mount_into "$path" "$path" ro
done
# The checkout as a clean clone, and shared/ beside it (as CI has it), read-only.
mkdir -p "$ROOT/work"
git clone -q "$PWD" "$ROOT/work/avatar-studio"
[ -d ../shared ] && mount_into "$(cd ../shared && pwd)" /work/shared ro

stamp "running README's commands in the root with Debian's python3"
PASS_VARS=$(env | grep -E '^(PIP_[A-Z_]+|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|GIT_SSL_CAINFO|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)=' |
  sed 's/^/export /; s/=\(.*\)$/="\1"/' || true)
cat >"$ROOT/work/run.sh" <<EOF
set -euo pipefail
export HOME=/root LANG=C.UTF-8 CI=true PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
$PASS_VARS
cd /work/avatar-studio
echo "ci: python3 is \$(command -v python3) (\$(python3 --version)); PEP 668 marker:" \
  \$(ls /usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null || echo none)
s=\$(date +%s)
cat <<'CMD'
+ $DEMO_CMD
CMD
$DEMO_CMD || { echo "ci: README's demo command failed"; exit 1; }
echo "ci: set-up and demo took \$(( \$(date +%s) - s )) s; .venv is \$(du -sh .venv | cut -f1)"
ls -la demo_out
s=\$(date +%s)
cat <<'CMD'
+ $TEST_CMD
CMD
set +e
$TEST_CMD
rc=\$?
echo "ci: tests took \$(( \$(date +%s) - s )) s"
exit \$rc
EOF
chroot "$ROOT" /usr/bin/env -i bash /work/run.sh
