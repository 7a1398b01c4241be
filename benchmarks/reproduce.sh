#!/usr/bin/env bash
# The whole benchmark of docs/benchmarks.md from an empty results directory, dataset by dataset,
# in the order its tuning needs, with the CPU time of every command (loading, evaluation and plots
# included) appended to a log.
#
#   OUT=/tmp/repro bash benchmarks/reproduce.sh [DATASET ...]    # default: every dataset, in turn
#
# DATASET: perov_5, carbon_24, mp_elastic_K, mp_elastic_G or synthetic (zero-shot only).
# Environment: OUT (default benchmarks/results/run_all), the results directory, run_all.py's
# --out: it must hold no tuning of the datasets given, and the default holds the committed
# results, so empty it or choose a new directory; RESUME=1 continues an interrupted reproduction
# in OUT, skipping the tuning of every dataset whose batch sizes are chosen (tune_batch_size_*.json;
# every other step resumes its own runs). SPACEGROUP_NN_DATA (the datasets, as for run_all.py);
# CPU_LOG (default /tmp/spacegroup_nn_cpu.tsv: command, user s, system s per line); DOCS_DIR
# (default /tmp/spacegroup_nn_docs), where each dataset's commands write a scratch page. Two
# invocations on disjoint datasets can run side by side; afterwards
# `python benchmarks/run_all.py --out "${OUT:-benchmarks/results/run_all}" --replot` writes
# docs/benchmarks.md from all results.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results/run_all}
log=${CPU_LOG:-/tmp/spacegroup_nn_cpu.tsv}
docs=${DOCS_DIR:-/tmp/spacegroup_nn_docs}

timed() {  # run_all.py with arguments "$@", its CPU time appended to the log
    local seconds
    seconds=$(mktemp)
    /usr/bin/time -f "%U	%S" -o "$seconds" python benchmarks/run_all.py --threads 1 --out "$out" "$@"
    printf 'python benchmarks/run_all.py --threads 1 --out %s %s\t%s\n' "$out" "$*" "$(cat "$seconds")" >> "$log"
    rm -f "$seconds"
}

datasets=("$@")
if [[ ${#datasets[@]} -eq 0 ]]; then
    datasets=(perov_5 carbon_24 mp_elastic_K mp_elastic_G synthetic)
fi
if [[ ${RESUME:-0} != 1 ]]; then  # before any command: a tuning in OUT is not from scratch
    for dataset in "${datasets[@]}"; do
        for tuned in "$out/tune_lr_$dataset.json" "$out/tune_batch_size_$dataset.json"; do
            if [[ -e $tuned ]]; then
                echo "reproduce.sh: $tuned exists: set OUT to an empty directory to reproduce" \
                    "from scratch, or RESUME=1 to continue the reproduction in $out" >&2
                exit 2
            fi
        done
    done
fi
mkdir -p "$docs"
for dataset in "${datasets[@]}"; do
    page="$docs/b_$dataset.md"
    if [[ $dataset == synthetic ]]; then
        timed --datasets synthetic --zero-shot-only --docs "$page"
    else
        # learning rate at the default batch, then the batch at the chosen rate, then the tables
        if [[ ! -e $out/tune_batch_size_$dataset.json ]]; then  # else tuned already (RESUME=1)
            timed --datasets "$dataset" --tune lr --docs "$page"
            timed --datasets "$dataset" --tune batch_size --docs "$page"
        fi
        timed --datasets "$dataset" --docs "$page"
    fi
done
