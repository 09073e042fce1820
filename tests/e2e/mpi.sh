# mpi.sh - sourced by the data-parallel e2e tests, after assets.sh: skips
# (exit 77) when strata was built without MPI or there is no mpirun, and
# sets mpi to the launch of 2 ranks (as root, more ranks than cores allowed).
# Under ASan, Open MPI keeps what MPI_Init, MPI_Finalize and its progress
# thread allocate; with full stacks the suppressions find them.
command -v mpirun >/dev/null && ldd "$bin" 2>/dev/null | grep -q libmpi ||
  { echo "skipped: strata built without MPI, or no mpirun"; exit 77; }
(cat tests/lsan.supp; printf 'leak:st_dist_init\nleak:st_dist_finalize\nleak:event_base_loop\n') >"$tmp/lsan.supp"
mpi=(env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
     LSAN_OPTIONS="suppressions=$tmp/lsan.supp" mpirun --allow-run-as-root --oversubscribe -np 2)
