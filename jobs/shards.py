"""spark-submit entrypoint for `tailguard shards`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/shards.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["shards", *sys.argv[1:]]))
