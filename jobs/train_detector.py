"""spark-submit entrypoint for `tailguard train-detector`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/train_detector.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-detector", *sys.argv[1:]]))
