"""Kill/resume benchmark: `reconciler apply --doit` SIGKILLed at seeded random points, resumed until done.

Each round generates N Graph steps (immutable-id stamps, UPN renames, deletes, restores, purges; one
object each), serves the tenant with the emulator on loopback, runs the real CLI in a subprocess and
SIGKILLs it up to --kills times at random write counts (seeded), then reruns the same command until it
exits by itself. A round passes when every step was written exactly once (the emulator's request log,
per target), the journal holds exactly one intent and one 'done' outcome per step, and `reconciler undo
--doit` restores every reversible object exactly (purges stay purged). Prints rounds passed and the
rate against an unkilled run of the same plan in the same invocation (ratio).

    /work/venv/bin/python bench/bench_kill_resume.py                         # 200 steps x 3 seeds, ~1 min
    /work/venv/bin/python bench/bench_kill_resume.py --steps 1000 --seeds 20 --time-scale 0.01
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.emulator import EmulatorConfig  # noqa: E402
from tests.robustness.killharness import one_round  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200, help="Graph steps per round (default 200; full: 1000)")
    ap.add_argument("--seeds", type=int, default=3, help="rounds, seeds 1..N (default 3; full: 20)")
    ap.add_argument("--kills", type=int, default=4, help="SIGKILLs per round at most (default 4)")
    ap.add_argument("--throttle", default="none", choices=("none", "graph"), help="emulator throttle profile")
    ap.add_argument("--time-scale", type=float, default=0.01, help="emulator time scale (throttle windows)")
    ap.add_argument("--no-undo", action="store_true", help="skip the undo check")
    a = ap.parse_args()
    cfg = EmulatorConfig(throttle=None if a.throttle == "none" else a.throttle, time_scale=a.time_scale)
    with tempfile.TemporaryDirectory() as d:
        base = one_round(Path(d) / "base", a.steps, 0, max_kills=0, undo=False, config=cfg)
        print(f"unkilled run: {a.steps} steps in {base.wall:.2f} s ({a.steps / base.wall:.0f} steps/s)"
              f"{'' if base.ok else '  PROBLEMS: ' + '; '.join(base.problems[:3])}", flush=True)
        rounds = []
        for seed in range(1, a.seeds + 1):
            r = one_round(Path(d) / f"s{seed}", a.steps, seed, max_kills=a.kills, undo=not a.no_undo, config=cfg)
            rounds.append(r)
            print(f"seed {seed:>3}: {'pass' if r.ok else 'FAIL'}  kills {r.kills}  runs {r.runs}  "
                  f"mid-step resumes {r.resumed}  {r.wall:.2f} s"
                  + ("" if r.ok else "  " + "; ".join(r.problems[:3])), flush=True)
    passed = sum(r.ok for r in rounds)
    kills = sum(r.kills for r in rounds)
    wall = statistics.mean(r.wall for r in rounds)
    print(f"rounds passed: {passed}/{len(rounds)}  ({a.steps} steps each, {kills} SIGKILLs, "
          f"{sum(r.resumed for r in rounds)} steps resumed between intent and outcome)")
    print(f"killed+resumed: {wall:.2f} s per round ({a.steps / wall:.0f} steps/s) vs unkilled {base.wall:.2f} s "
          f"({a.steps / base.wall:.0f} steps/s): ratio {wall / base.wall:.2f}x")
    sys.exit(0 if passed == len(rounds) and base.ok else 1)


if __name__ == "__main__":
    main()
