"""Fine-tune the NER model: python train.py [--config configs/default.yaml] [--output-dir runs/<name>]."""
import argparse
import sys

from civic_ner.cli import add_train_args, cmd_train
from civic_ner.cli_common import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_train_args(parser)
    sys.exit(run(cmd_train, parser.parse_args()))
