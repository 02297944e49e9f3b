# each mutation must make its test fail (exit != 0); then the file is restored
cd /work/main
run() { # file sed-expr test
  cp "$1" /tmp/mut.bak
  sed -i "$2" "$1"
  if cmp -s "$1" /tmp/mut.bak; then echo "MUTATION DID NOT APPLY: $2"; fi
  timeout 300 .venv/bin/python -m pytest -q -x -p no:cacheprovider $3 > /tmp/mut.log 2>&1; rc=$?
  cp /tmp/mut.bak "$1"
  echo "rc=$rc  $1 :: $2 :: $3"
}
run src/civic_ner/writers.py 's/    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"/    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}"/' "tests/test_predict.py -k test_html_format"
run src/civic_ner/corpus.py 's/    """part_of must be a forest: a cycle (A part of B part of A) cannot be summed."""/    """part_of must be a forest: a cycle (A part of B part of A) cannot be summed."""\n    return []/' "tests/test_annotations.py -k relation_round_trip"
run src/civic_ner/facts.py '0,/^def extract_relations(.*/s//&\n    return []/' "tests/test_facts.py -k doc_facts_api"
run src/civic_ner/facts.py '0,/^def extract_relations(.*/s//&\n    return []/' "tests/test_facts.py -k facts_command_formats"
run src/civic_ner/aggregation.py 's/        """Long-format rows for a CSV to pivot: one per measure."""/        """Long-format rows for a CSV to pivot: one per measure."""\n        return []/' "tests/test_facts.py -k facts_command_formats"
run src/civic_ner/reading.py 's/        raise InputError("binary file (contains NUL bytes; UTF-16 text needs a byte-order mark)")/        raise InputError("binary file\\n(contains NUL bytes)")/' "tests/test_fuzz.py -k bulletin"
