#!/usr/bin/env bash
# Checks `metagpu gpus -o json` against nvidia-smi on a machine with an NVIDIA GPU (not run in CI).
#   tests/gpu-check.sh path/to/metagpu
# Prints PASS/FAIL/SKIP lines; exits non-zero when anything failed.
set -uo pipefail

bin=${1:?usage: $0 path/to/published/metagpu}
work=$(mktemp -d)
holder=
cleanup() { [ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failed=0
fail() { echo "FAIL $*"; failed=1; }

command -v nvidia-smi >/dev/null || { echo "FAIL nvidia-smi not found"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL python3 not found (used to read JSON)"; exit 1; }

inventory() { # $1: output file
  "$bin" gpus -o json >"$1" 2>"$work/stderr" || { fail "metagpu gpus -o json exited $?: $(cat "$work/stderr")"; return 1; }
}

# 1. Every GPU as nvidia-smi sees it: index, UUID, name, total memory (MiB), PCI bus ID.
inventory "$work/gpus.json" || exit 1
nvidia-smi --query-gpu=index,uuid,name,memory.total,pci.bus_id --format=csv,noheader,nounits >"$work/smi.csv" ||
  { echo "FAIL nvidia-smi --query-gpu failed"; exit 1; }
python3 - "$work/gpus.json" "$work/smi.csv" <<'EOF' || failed=1
import json, sys
inventory = json.load(open(sys.argv[1]))
gpus = {g["index"]: g for g in inventory["gpus"]}
print(f"INFO driver {inventory['driverVersion']}, CUDA {inventory['cudaVersion']}, {len(gpus)} GPU(s)")

def bus(b):  # NVML's 00000000:07:00.0 and nvidia-smi's forms alike: 4-digit lowercase domain
    domain, rest = b.strip().split(":", 1)
    return f"{int(domain, 16):04x}:{rest.lower()}"

ok = True
def check(what, got, want, close=lambda a, b: a == b):
    global ok
    good = close(got, want)
    ok &= good
    print(f"{'PASS' if good else 'FAIL'} {what}: metagpu {got!r}, nvidia-smi {want!r}")

rows = [line.split(",") for line in open(sys.argv[2]) if line.strip()]
check("GPU count", len(gpus), len(rows))
for row in rows:
    index, uuid, name, mem, bus_id = row[0].strip(), row[1].strip(), ",".join(row[2:-2]).strip(), row[-2].strip(), row[-1]
    g = gpus.get(int(index))
    if g is None:
        check(f"GPU {index} present", None, uuid)
        continue
    check(f"GPU {index} uuid", g["uuid"], uuid)
    check(f"GPU {index} name", g["name"], name)
    check(f"GPU {index} memory.total MiB", g["memoryTotalMiB"], int(mem), lambda a, b: abs(a - b) <= 1)
    check(f"GPU {index} pci.bus_id", bus(g["pciBusId"]), bus(bus_id))
sys.exit(0 if ok else 1)
EOF

# 2. A process holding 1 GiB of GPU memory shows up with its pid and about its memory.
if ! python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "SKIP process check: python3 with a CUDA-enabled torch is not available to allocate GPU memory"
else
  apps() { nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits | tr -d ' '; }
  apps >"$work/before"
  python3 -c 'import torch, time; x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda"); torch.cuda.synchronize(); time.sleep(300)' &
  holder=$!
  # nvidia-smi names host pids; in a container that is not $!, so take the pid that is new.
  pid= ; mib=
  for _ in $(seq 60); do
    read -r pid mib < <(apps | grep -vxF -f "$work/before" | tr ',' ' ' | head -n 1) || true
    [ -n "$pid" ] && break
    sleep 1
  done
  if [ -z "$pid" ]; then
    fail "nvidia-smi never listed the process holding 1 GiB"
  else
    echo "INFO holder pid $holder, nvidia-smi sees pid $pid using $mib MiB"
    inventory "$work/with-process.json" &&
      python3 - "$work/with-process.json" "$pid" "$mib" <<'EOF' || failed=1
import json, sys
inventory, pid, mib = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
found = [(g["index"], p) for g in inventory["gpus"] for p in g.get("processes") or [] if p["pid"] == pid]
if not found:
    print(f"FAIL pid {pid} is not among metagpu's processes")
    sys.exit(1)
index, p = found[0]
used = p.get("usedMemoryMiB")
good = used is not None and used >= 1024 and abs(used - mib) <= max(64, mib // 10)
print(f"{'PASS' if good else 'FAIL'} pid {pid} on GPU {index} ({p['kind']}): metagpu {used} MiB, nvidia-smi {mib} MiB")
sys.exit(0 if good else 1)
EOF
  fi
fi

[ "$failed" -eq 0 ] && echo "PASS all checks" || echo "FAIL some checks failed"
exit "$failed"
