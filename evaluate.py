"""Score a trained model on held-out spans beside the rule and LAC baselines: python evaluate.py --model DIR."""
import argparse
import sys

from civic_ner.cli import add_evaluate_args, cmd_evaluate
from civic_ner.cli_common import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_evaluate_args(parser)
    sys.exit(run(cmd_evaluate, parser.parse_args()))
