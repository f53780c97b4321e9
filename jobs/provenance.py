"""spark-submit entrypoint for `tailguard provenance`; takes the same arguments as the CLI.

    spark-submit --py-files dist/tailguard.zip jobs/provenance.py --conf conf/cluster.yaml
"""

import sys

from tailguard.cli import main

if __name__ == "__main__":
    sys.exit(main(["provenance", *sys.argv[1:]]))
