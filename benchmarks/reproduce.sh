#!/usr/bin/env bash
# The whole benchmark of docs/benchmarks.md from an empty results directory, dataset by dataset,
# in the order its tuning needs, with the CPU time of every command (loading, evaluation and plots
# included) appended to a log.
#
#   bash benchmarks/reproduce.sh [DATASET ...]    # default: every dataset, one after another
#
# DATASET: perov_5, carbon_24, mp_elastic_K, mp_elastic_G or synthetic (zero-shot only).
# Environment: SPACEGROUP_NN_DATA (the datasets, as for run_all.py); CPU_LOG (default
# /tmp/spacegroup_nn_cpu.tsv: command, user s, system s per line); DOCS_DIR (default
# /tmp/spacegroup_nn_docs), where each dataset's commands write a scratch page. Two invocations on
# disjoint datasets can run side by side; afterwards `python benchmarks/run_all.py --replot`
# writes docs/benchmarks.md from all results.
set -euo pipefail
cd "$(dirname "$0")/.."
log=${CPU_LOG:-/tmp/spacegroup_nn_cpu.tsv}
docs=${DOCS_DIR:-/tmp/spacegroup_nn_docs}
mkdir -p "$docs"

timed() {  # run_all.py with arguments "$@", its CPU time appended to the log
    local seconds
    seconds=$(mktemp)
    /usr/bin/time -f "%U	%S" -o "$seconds" python benchmarks/run_all.py --threads 1 "$@"
    printf 'python benchmarks/run_all.py --threads 1 %s\t%s\n' "$*" "$(cat "$seconds")" >> "$log"
    rm -f "$seconds"
}

datasets=("$@")
if [[ ${#datasets[@]} -eq 0 ]]; then
    datasets=(perov_5 carbon_24 mp_elastic_K mp_elastic_G synthetic)
fi
for dataset in "${datasets[@]}"; do
    page="$docs/b_$dataset.md"
    if [[ $dataset == synthetic ]]; then
        timed --datasets synthetic --zero-shot-only --docs "$page"
    else
        # learning rate at the default batch, then the batch at the chosen rate, then the tables
        timed --datasets "$dataset" --tune lr --docs "$page"
        timed --datasets "$dataset" --tune batch_size --docs "$page"
        timed --datasets "$dataset" --docs "$page"
    fi
done
