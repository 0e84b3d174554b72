"""Synthetic tenant generation: wall time and peak memory, streaming vs an in-memory baseline.

Each run happens in a fresh child process that reports its own peak RSS. The
baseline, in the same invocation, is what a non-streaming writer costs at the
same size: load the generated tenant file as one document and dump it again
(no generation logic at all, just holding and serializing everything at once).

    /work/venv/bin/python bench/bench_generate.py                  # 50k users, ~20 s
    /work/venv/bin/python bench/bench_generate.py --users 100000 500000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Peak RSS is read from /proc/self/status (VmHWM resets at exec; ru_maxrss would include the parent's pages).
HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024"

CHILD_GENERATE = r'''
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from reconciler.emulator.generate import GenerateOptions, generate
t = time.monotonic()
generate(GenerateOptions(users=int(sys.argv[1]), seed=1), Path(sys.argv[2]), Path(sys.argv[3]))
print(time.monotonic() - t, HWM)
'''.replace("HWM", HWM)

CHILD_BASELINE = r'''
import sys, time
import orjson
t = time.monotonic()
doc = orjson.loads(open(sys.argv[1], "rb").read())
open(sys.argv[1] + ".copy", "wb").write(orjson.dumps(doc))
print(time.monotonic() - t, HWM)
'''.replace("HWM", HWM)


def _child(code: str, *args: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True).stdout
    secs, mb = out.split()
    return float(secs), float(mb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, nargs="+", default=[50000], help="tenant sizes (default 50000)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the in-memory baseline")
    args = ap.parse_args()
    for n in args.users:
        with tempfile.TemporaryDirectory() as tmp:
            tenant, ldif = Path(tmp) / "tenant.json", Path(tmp) / "forest.ldif"
            secs, mb = _child(CHILD_GENERATE, str(n), str(tenant), str(ldif), str(ROOT))
            size = (tenant.stat().st_size + ldif.stat().st_size) / 2**20
            print(f"generate {n:>7} users: {secs:6.1f} s, peak RSS {mb:6.0f} MB, {size:6.0f} MB written")
            if args.no_baseline:
                continue
            bsecs, bmb = _child(CHILD_BASELINE, str(tenant))
            print(f"baseline {n:>7} users: {bsecs:6.1f} s, peak RSS {bmb:6.0f} MB (load + dump the same tenant "
                  f"in memory)")
            print(f"ratio streaming/in-memory: time {secs / bsecs:.2f}, peak memory {mb / bmb:.2f}")


if __name__ == "__main__":
    main()
