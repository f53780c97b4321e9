"""The made-up web of the demo crawl: domains, their topics and their hosts.

Every domain name here is invented for the SYNTHETIC demo crawl. Names sit under
single-label (.com, .org, .net, .io) and multi-label public suffixes (.co.uk, .com.au,
.co.jp, .org.uk, .co.nz, .co.za) so that registrable-domain extraction by the Public
Suffix List is exercised (`www.harbourlight.co.uk` -> `harbourlight.co.uk`). Each domain
has a topic with a few real head words; its long tail of concepts is made up (see vocab.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailguard.errors import ConfigError


@dataclass(frozen=True)
class Domain:
    name: str                 # registrable domain, e.g. "harbourlight.co.uk"
    topic: str
    head_words: tuple[str, ...]   # real English words at the top of the topic's Zipf ranks
    hosts: tuple[str, ...]    # hosts that publish under this domain


# (registrable domain, topic, real head words). The first 24 are the default demo web and
# already hold every multi-label suffix; the rest let `sample.domains` grow to 32.
CATALOG: tuple[tuple[str, str, str], ...] = (
    ("harbourlight.co.uk", "coastal sailing", "boat harbour tide sail mooring hull wind crew"),
    ("emberfield.com.au", "outback farming", "cattle paddock fence rain pasture dam herd shed"),
    ("kitsune-garden.co.jp", "japanese gardens", "garden moss stone pond maple pine lantern path"),
    ("wrenwood.org.uk", "birdwatching", "bird nest wing song feeder hedge heron warbler"),
    ("copperkettle.com", "home cooking", "recipe oven butter flour sauce pan dough spice"),
    ("ironspoke.net", "cycling", "bike wheel chain gear saddle climb tyre route"),
    ("quietcircuit.io", "retro computing", "chip board memory disk cartridge screen keyboard"),
    ("starfall-observatory.org", "amateur astronomy", "star telescope orbit planet lens comet"),
    ("millbrookgazette.co.uk", "local news", "council road school mayor budget resident library"),
    ("tidepoolnotes.com.au", "marine life", "reef crab shell coral kelp urchin algae snail"),
    ("sawdustsociety.com", "woodworking", "timber chisel joint grain plane bench oak glue"),
    ("leafandladle.co.nz", "tea", "tea leaf kettle brew cup pot steep aroma blend"),
    ("rustybolt-motors.co.uk", "car restoration", "engine bolt rust paint gearbox chassis panel"),
    ("pinecrest-hikers.org", "hiking", "trail ridge summit boots camp map pack valley creek"),
    ("fernhollow-herbals.com", "herbalism", "herb tincture root remedy balm seed flower oil"),
    ("brightquill.net", "fiction writing", "chapter draft plot character editor scene novel"),
    ("basaltandbrine.co.za", "geology", "rock basalt crystal fault mineral layer cliff fossil"),
    ("northgate-chess.org.uk", "chess", "pawn knight bishop rook opening endgame board move"),
    ("velvetreel.com", "film", "film scene camera director reel screen cast script"),
    ("hivekeepers.com.au", "beekeeping", "hive bee honey comb queen frame swarm wax nectar"),
    ("lanternlane-books.co.jp", "books", "book shelf author library reader spine edition"),
    ("coldfront-weather.net", "weather", "rain front pressure cloud storm forecast frost radar"),
    ("mossbank-allotments.org.uk", "allotments", "plot bean potato shed compost slug onion"),
    ("pixelharbor.com", "indie games", "game level sprite player boss patch controller quest"),
    ("gearloft-audio.com", "hi-fi audio", "speaker amplifier cable vinyl turntable bass tube"),
    ("orchardlane.com.au", "orchards", "apple orchard pear blossom graft harvest cider branch"),
    ("ravenscroft-history.org", "local history", "archive parish census manor letter chapel"),
    ("clayandkiln.co.nz", "pottery", "clay kiln glaze wheel bowl mug slip studio"),
    ("summitstack.io", "software operations", "server deploy cache query build container log"),
    ("marigold-parenting.com", "parenting", "baby sleep toddler school meal nap play bedtime"),
    ("tinkerwharf.co.uk", "electronics", "resistor solder circuit sensor battery wire relay"),
    ("saltmarsh-kitchen.co.uk", "seafood", "fish oyster mussel smoke brine grill net catch"),
)

SUBDOMAINS = ("blog", "news", "forum", "shop", "community", "m", "docs")


def build_domains(n_domains: int, rng: np.random.Generator) -> list[Domain]:
    """The first `n_domains` catalogue entries, each with `www.` plus 2-4 other hosts."""
    if not 1 <= n_domains <= len(CATALOG):
        raise ConfigError(
            f"config key 'sample.domains' must be between 1 and {len(CATALOG)}, got {n_domains}"
        )
    domains = []
    for name, topic, words in CATALOG[:n_domains]:
        extra = rng.choice(len(SUBDOMAINS), size=int(rng.integers(2, 5)), replace=False)
        hosts = (f"www.{name}", *(f"{SUBDOMAINS[i]}.{name}" for i in sorted(extra)))
        domains.append(Domain(name, topic, tuple(words.split()), hosts))
    return domains
