# Resource detection: the OTLP request's resource carries host.id (from a
# test machine-id file), host.arch, os.type, container.id (from a faked
# cgroup file, and from a faked mountinfo when the cgroup says "0::/"),
# the Kubernetes pod from downward-API variables, process.command, and
# process.command_args only when agent.command_args is on;
# OTEL_RESOURCE_ATTRIBUTES wins over every detector. Mappings carry
# process.executable.build_id.htlhash, checked against Python's hashlib.
# A program run through a symlink keeps the name it was run by.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/tools/otlp_lib.sh"
CID=4a1f0c0ffee0d15ea5e00123456789abcdef0123456789abcdef0123456789ab
CID2=ba5eba11ba5eba11ba5eba11ba5eba11ba5eba11ba5eba11ba5eba11ba5eba11
echo "  0f1e2d3c4b5a69788796a5b4c3d2e1f0 " > "$WORK/machine-id"
echo "0::/system.slice/docker-$CID.scope" > "$WORK/cgroup"
echo "0::/" > "$WORK/cgroup-ns"
echo "1173 1160 254:1 /var/lib/docker/containers/$CID2/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw" \
  > "$WORK/mountinfo"
run() { # run NAME VAR=VALUE... -- cmd: exports to a fresh receiver, summary in $WORK/NAME.sum
  local name=$1; shift
  rx_start "$name" 200
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env -u OTEL_RESOURCE_ATTRIBUTES -u OTEL_SERVICE_NAME OTP_TEST_MACHINE_ID_FILE="$WORK/machine-id" \
    OTPROF_EXPORT_ENDPOINT="http://127.0.0.1:$RX_PORT" OTPROF_EXPORT_INTERVAL_MS=400 "${envs[@]}" \
    LD_PRELOAD="$AGENT" "$@" > /dev/null 2> "$WORK/$name.err"
  local rc=$?
  "$CHECKER" $(rx_bodies "$RX_DIR") > "$WORK/$name.sum"
  return $rc
}
res() { grep -Fx "resource $2" "$WORK/$1.sum" > /dev/null; }

run plain OTP_TEST_CGROUP_FILE="$WORK/cgroup" K8S_POD_UID=5f0c1a7e-3b2d-4c1e-9f4a-2b7d8e9f0a1b \
  POD_NAME=web-7d9f POD_NAMESPACE=shop -- "$PROGS/cpu_split" 1 1 0.5 --secret-arg=hunter2
check "app exits 0, says nothing" [ $? -eq 0 -a ! -s "$WORK/plain.err" ]
check "requests decode" grep -q "^requests [1-9]" "$WORK/plain.sum"
check "host.id from the machine-id file, trimmed" res plain "host.id=0f1e2d3c4b5a69788796a5b4c3d2e1f0"
check "host.arch=amd64, os.type=linux" bash -c 'grep -qx "resource host.arch=amd64" "$1" && grep -qx "resource os.type=linux" "$1"' _ "$WORK/plain.sum"
check "container.id from a cgroup v2 docker scope" res plain "container.id=$CID"
check "k8s.pod.uid (K8S_POD_UID)" res plain "k8s.pod.uid=5f0c1a7e-3b2d-4c1e-9f4a-2b7d8e9f0a1b"
check "k8s.pod.name (POD_NAME), k8s.namespace.name (POD_NAMESPACE)" \
  bash -c 'grep -qx "resource k8s.pod.name=web-7d9f" "$1" && grep -qx "resource k8s.namespace.name=shop" "$1"' _ "$WORK/plain.sum"
check "process.command is argv[0]" res plain "process.command=$PROGS/cpu_split"
check "no process.command_args by default (arguments can hold secrets)" \
  bash -c '! grep -q "command_args\|hunter2" "$1"' _ "$WORK/plain.sum"
grep '^resource' "$WORK/plain.sum" | sed 's/^/    /'

# htlhash on every file mapping, as the spec computes it.
htl() {
  $PY -c 'import hashlib,struct,sys
b=open(sys.argv[1],"rb").read()
print(hashlib.sha256(b[:4096]+b[-4096:]+struct.pack(">Q",len(b))).hexdigest()[:32])' "$1"
}
sort -u "$WORK/plain.sum" | awk '$1 == "htlhash"' > "$WORK/htl.txt"
nh=$(wc -l < "$WORK/htl.txt"); bad=0
while read -r _ file hash; do
  [ -r "$file" ] || continue
  want=$(htl "$file")
  [ "$hash" = "$want" ] || { echo "  $file: htlhash $hash, want $want"; bad=$((bad + 1)); }
done < "$WORK/htl.txt"
check "mappings carry htlhash ($nh), equal to SHA-256 of first+last 4096 bytes+length" [ "$nh" -ge 2 -a "$bad" -eq 0 ]
check "the program's own mapping among them" grep -q " $PROGS/cpu_split " "$WORK/htl.txt"
check "GNU build ids still there" bash -c 'awk "\$1==\"mappings\" && \$4 > 0 {ok=1} END {exit !ok}" "$1"' _ "$WORK/plain.sum"

# cgroup namespace hides it: the runtime's bind mounts name it; opt-in args.
run ns OTP_TEST_CGROUP_FILE="$WORK/cgroup-ns" OTP_TEST_MOUNTINFO_FILE="$WORK/mountinfo" \
  OTPROF_AGENT_COMMAND_ARGS=true -- "$PROGS/cpu_split" 1 0.6 0.5
check "container.id from mountinfo when the cgroup is \"0::/\"" res ns "container.id=$CID2"
check "agent.command_args=true: process.command_args is the argument array" \
  res ns "process.command_args=[$PROGS/cpu_split|1|0.6|0.5]"

# OTEL_RESOURCE_ATTRIBUTES wins over the detectors; no container here.
run user OTP_TEST_CGROUP_FILE="$WORK/cgroup-ns" OTP_TEST_MOUNTINFO_FILE=/dev/null K8S_POD_NAME=detected \
  OTEL_RESOURCE_ATTRIBUTES="host.id=mine,k8s.pod.name=given,container.id=c1" -- "$PROGS/cpu_split" 1 0.6 0.5
check "OTEL_RESOURCE_ATTRIBUTES beats the detectors" \
  bash -c 'grep -qx "resource host.id=mine" "$1" && grep -qx "resource k8s.pod.name=given" "$1" && grep -qx "resource container.id=c1" "$1"' _ "$WORK/user.sum"
run none OTP_TEST_CGROUP_FILE="$WORK/cgroup-ns" OTP_TEST_MOUNTINFO_FILE=/dev/null -- "$PROGS/cpu_split" 1 0.6 0.5
check "no container.id, no k8s.* when nothing names them" \
  bash -c '! grep -q "resource container.id=\|resource k8s\." "$1"' _ "$WORK/none.sum"

# A symlink keeps the name it was run by: service.name and file names;
# process.executable.* stay the file's (semantic conventions: the target
# of /proc/<pid>/exe).
ln -s "$PROGS/cpu_split" "$WORK/my-alias"
run alias -- "$WORK/my-alias" 1 0.6 0.5
check "symlink: service.name is the name run (my-alias)" res alias "service.name=my-alias"
check "symlink: process.executable.name is the file's (cpu_split)" res alias "process.executable.name=cpu_split"
mkdir -p "$WORK/files"
(cd "$WORK/files" && env -u OTPROF_CONFIG LD_PRELOAD="$AGENT" "$WORK/my-alias" 1 0.3 0.5 > /dev/null)
check "symlink: profile files are named my-alias.*" bash -c 'ls "$1"/otprof-out/my-alias.*.cpu.pb.gz > /dev/null 2>&1' _ "$WORK/files"
finish
