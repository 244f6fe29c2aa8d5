# fio with POSIX AIO (--ioengine=posixaio), its job as a thread of the one
# process: glibc's AIO worker threads do the reads. The C library starts
# them with its internal pthread_create, so they get no timer; their CPU
# time (70% of the run's, the copying) is in the profile without stacks,
# with their thread's name and id. Before, the profile held 22% of the
# run's CPU (410 of 1860 ms), and the worker thread had no samples.
source "$(dirname "$0")/lib.sh"
if ! command -v fio > /dev/null; then
  echo "SKIP: fio: not installed (scripts/install-deps compat installs it)"
  finish
fi
# A file in the page cache: the reads are copies, CPU time.
head -c 64M /dev/urandom > "$WORK/fio.dat"
ARGS=(fio --name=aio --thread --ioengine=posixaio --rw=randread --bs=64k --size=64m --iodepth=8
  --filename="$WORK/fio.dat" --runtime=3 --time_based --output-format=terse --output=/dev/null)
c_run bare fio 60 -- "${ARGS[@]}"
c_run agent fio 60 -- "${ARGS[@]}"
c_same fio
c_profile fio
finish
