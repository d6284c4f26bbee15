#!/usr/bin/env bash
# Run the test layers (all, or those named: py unit kernel ui), each writing JUnit XML,
# then print one closing line `N passed, N failed` over all of them. Exit non-zero when
# any layer failed or a layer ran no test.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
results=test-results
mkdir -p "$results"
layers=("$@")
[ ${#layers[@]} -eq 0 ] && layers=(py unit kernel ui)
status=0

for layer in "${layers[@]}"; do
  rm -f "$results/$layer.xml"
  echo "=== layer: $layer"
  case "$layer" in
    py)     python -m pytest -p no:cacheprovider --junitxml="$results/py.xml" ;;
    unit)   JEST_JUNIT_OUTPUT_FILE="$results/unit.xml" npx jest --selectProjects unit --reporters=default --reporters=jest-junit ;;
    kernel) JEST_JUNIT_OUTPUT_FILE="$results/kernel.xml" npx jest --selectProjects kernel --reporters=default --reporters=jest-junit ;;
    ui)     (cd ui-tests && PLAYWRIGHT_JUNIT_OUTPUT_NAME="../$results/ui.xml" npx playwright test) ;;
    *)      echo "unknown layer $layer"; status=2; continue ;;
  esac
  rc=$?
  [ $rc -ne 0 ] && status=1
done

python scripts/summarize.py "$results" "${layers[@]}" || status=1
exit $status
