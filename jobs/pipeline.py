"""spark-submit entrypoint for `tailguard pipeline`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/pipeline.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["pipeline", *sys.argv[1:]]))
