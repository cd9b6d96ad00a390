#!/usr/bin/env python3
"""kill -9 of one rank at a random moment of a distributed save loop, TRIALS times. After each kill the job
must end by itself (no rank left waiting forever), and `checkpoint_faults verify` must find every committed
step whole and the newest one loadable.

usage: kill_trials.py MPIEXEC "MPIEXEC FLAGS" PROGRAM MNIST_DIR TRIALS
"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def main():
    mpiexec, flags, program, mnist, trials = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4], int(sys.argv[5])
    if not os.path.isdir(mnist):
        print(f"SKIPPED: no MNIST test set at {mnist}")
        sys.exit(1 if os.environ.get("CI") == "true" else 4)
    env = dict(os.environ, MINDSAVE_MNIST=mnist)
    rng = random.Random(19)
    uncommitted_hits = 0
    for trial in range(trials):
        folder = tempfile.mkdtemp(prefix="mindsave_kill_")
        try:
            job = subprocess.Popen([mpiexec, "-n", "2", *flags, program, "loop", folder], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            pids = {}
            deadline = time.monotonic() + 120
            while len(pids) < 2:
                for rank in (0, 1):
                    path = os.path.join(folder, f"pid_{rank}")
                    if rank not in pids and os.path.exists(path):
                        pids[rank] = int(open(path).read())
                if job.poll() is not None:
                    print(f"trial {trial}: the job ended before training:\n{job.stdout.read().decode()}")
                    sys.exit(1)
                if time.monotonic() > deadline:
                    os.killpg(job.pid, signal.SIGKILL)
                    print(f"trial {trial}: the ranks did not start training in 120 s")
                    sys.exit(1)
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.25))
            victim = rng.choice((0, 1))
            os.kill(pids[victim], signal.SIGKILL)
            try:
                job.wait(timeout=60)  # the job must end by itself
            except subprocess.TimeoutExpired:
                os.killpg(job.pid, signal.SIGKILL)
                print(f"trial {trial}: HANG: the job was still running 60 s after rank {victim} was killed")
                sys.exit(1)
            check = subprocess.run([program, "verify", folder], capture_output=True, text=True)
            line = check.stdout.strip()
            if check.returncode != 0:
                print(f"trial {trial}: killed rank {victim}: {line} {check.stderr}")
                sys.exit(1)
            found = re.search(r"verified (\d+) committed steps.*uncommitted files (\d+), temp files (\d+)", line)
            if not found or int(found.group(1)) == 0:
                print(f"trial {trial}: killed rank {victim} after step 1 was committed, yet: {line}")
                sys.exit(1)
            uncommitted_hits += int(found.group(2)) + int(found.group(3)) > 0
            print(f"trial {trial}: killed rank {victim}; {line}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{trials} trials: every committed step whole and the newest loadable; {uncommitted_hits} kills left "
          f"an uncommitted file or temp file behind (the kill landed inside a save)")


if __name__ == "__main__":
    main()
