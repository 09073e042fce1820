# mpi.sh - sourced by the data-parallel e2e tests, after assets.sh: skips
# (exit 77) when strata was built without MPI, there is no mpirun, or it
# cannot start two processes of a trivial job, and
# sets mpi to the launch of 2 ranks (as root, more ranks than cores allowed).
# Under ASan, Open MPI keeps what MPI_Init, MPI_Finalize and its progress
# thread allocate; with full stacks the suppressions find them.
command -v mpirun >/dev/null && ldd "$bin" 2>/dev/null | grep -q libmpi ||
  { echo "skipped: strata built without MPI, or no mpirun"; exit 77; }
# a machine where Open MPI cannot start two processes at all (no shared
# memory in a container, say) cannot run these tests either
timeout -s KILL 60 mpirun --allow-run-as-root --oversubscribe -np 2 true >"$tmp/mpi_probe" 2>&1 ||
  { echo "skipped: mpirun cannot start 2 ranks here:"; tail -3 "$tmp/mpi_probe"; exit 77; }
(cat tests/lsan.supp; printf 'leak:st_dist_init\nleak:st_dist_finalize\nleak:event_base_loop\n') >"$tmp/lsan.supp"
mpi=(env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
     LSAN_OPTIONS="suppressions=$tmp/lsan.supp" mpirun --allow-run-as-root --oversubscribe -np 2)
