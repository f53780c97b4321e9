"""spark-submit entrypoint for `tailguard attributes`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/attributes.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["attributes", *sys.argv[1:]]))
