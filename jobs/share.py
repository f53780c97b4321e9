"""spark-submit entrypoint for `tailguard share`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/share.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["share", *sys.argv[1:]]))
