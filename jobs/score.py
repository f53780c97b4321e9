"""spark-submit entrypoint for `tailguard score`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/score.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:]]))
