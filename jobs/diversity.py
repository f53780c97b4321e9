"""spark-submit entrypoint for `tailguard diversity`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/diversity.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["diversity", *sys.argv[1:]]))
