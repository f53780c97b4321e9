"""spark-submit entrypoint for `tailguard ingest`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/ingest.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
