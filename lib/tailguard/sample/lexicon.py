"""Word lists the demo generator composes text from.

Real English function words and a small shared general vocabulary give the text its
grammar-like skeleton; the per-domain concepts are made up from the syllables below (see
vocab.py). The LLM marker lexicon lists words and phrases documented as over-used by
instruction-tuned models after late 2022 (Liang et al. 2024, "Mapping the Increasing Use of
LLMs in Scientific Papers"; Kobak et al. 2024, "Delving into ChatGPT usage in academic
writing through excess vocabulary"): the synthetic generator over-uses them so that the
detector and the marker-rate signal have something real-looking to find.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


DETERMINERS = _words("the the the the a a a this that these those every each our their its")
PREPOSITIONS = _words("of of of in in in on on to to for for with with from at by about "
                      "after before under over between through near along during without")
PRONOUNS = _words("we we I I you they they it it she he people everyone someone")
CONJUNCTIONS = _words("and and and but but or so yet because while although when since")
SUBORDINATORS = _words("when because if although while once after before unless until")
AUXILIARIES = _words("is is was was are were has had can could will would should might")

FUNCTION_WORDS = frozenset(DETERMINERS + PREPOSITIONS + PRONOUNS + CONJUNCTIONS + SUBORDINATORS
                           + AUXILIARIES + _words("not no yes more most very too also just "
                                                  "than then there here which who what how"))

GENERAL_NOUNS = _words(
    "time year day week people way thing work part place week month morning evening night "
    "problem question idea reason result change side end point group number plan hand home "
    "friend family team weekend moment story detail list step method price cost season")
GENERAL_VERBS = _words(
    "make made take took find found give gave keep kept try tried use used need needed show "
    "showed bring brought leave left start started seem seemed help helped turn turned check "
    "checked move moved build built watch watched learn learned notice noticed fix fixed")
GENERAL_ADJECTIVES = _words(
    "good new old great small large long little early late hard easy cold warm dry wet quiet "
    "busy cheap rough simple strange common rare full empty heavy light slow quick odd fine")
ADVERBS = _words("really quite almost usually often sometimes still already later soon again "
                 "slowly carefully finally probably honestly mostly nearly")

# Syllable inventory for made-up but English-looking concept words ("thornwick", "brellow").
ONSETS = _words("b br c ch cl cr d dr f fl fr g gl gr h j k l m n p pl pr qu r s sc sh sl sn "
                "sp st sw t th tr v w wh y z")
NUCLEI = _words("a a e e i i o o u ai ea ee oo ou ie oa ay")
CODAS = ("", "", "", "", "n", "n", "r", "l", "s", "t", "m", "nd", "rk", "st", "ng", "ck",
         "sh", "th", "x", "ll", "rn", "lt")
SUFFIXES = ("", "", "", "", "", "", "", "", "ing", "er", "ly", "ment", "ness", "ish", "ful", "wick",
            "ton", "ley", "ard", "ette", "ic")

# --- LLM-style markers -------------------------------------------------------------------
MARKER_OPENERS = (
    "Furthermore,", "Moreover,", "Additionally,", "Notably,", "Importantly,", "Ultimately,",
    "It is important to note that", "It is worth noting that", "In essence,",
    "In today's fast-paced world,", "Overall,", "Consequently,",
)
MARKER_ADJECTIVES = _words(
    "pivotal crucial intricate vibrant seamless robust comprehensive multifaceted nuanced "
    "invaluable meticulous transformative dynamic profound remarkable captivating")
MARKER_NOUNS = _words("tapestry landscape realm testament journey interplay synergy")
MARKER_VERBS = _words("delve underscore foster navigate showcase embark leverage harness "
                      "elevate unlock")
MARKER_CLOSERS = ("In conclusion,", "In summary,", "To sum up,", "All in all,")
# Whole marker sentences; {a}/{b} are filled with words of the document itself.
MARKER_SENTENCES = (
    "This serves as a testament to the {adj} interplay between {a} and {b}.",
    "Let us delve into the {adj} world of {a}.",
    "By understanding {a}, we can navigate the {adj} landscape of {b} with confidence.",
    "Whether you are new to {a} or a seasoned expert, {b} plays a {adj} role.",
    "Together, {a} and {b} weave a rich tapestry that continues to evolve.",
    "Embracing {a} can unlock a {adj} journey toward {b}.",
    "It is a {adj} reminder that {a} and {b} are deeply intertwined.",
    "This underscores the {adj} importance of {a} in the realm of {b}.",
)
MARKER_PHRASES = (
    "delve", "tapestry", "it is important to note", "in conclusion", "furthermore", "pivotal",
    "moreover", "testament", "intricate", "navigate the", "realm", "multifaceted", "interplay",
    "it is worth noting", "underscores", "vibrant", "seamless", "crucial", "in summary",
)

# --- boilerplate for re-crawled pages ------------------------------------------------------
BANNERS = (
    "We use cookies to improve your experience on our site. By continuing to browse you "
    "agree to our use of cookies. Accept all cookies or manage your preferences.",
    "Subscribe to our newsletter for the latest posts, offers and community news delivered "
    "to your inbox every week.",
    "This article was first published on our old site and has been moved here as part of "
    "our archive migration.",
    "Share this post on social media. Print this page. Report a broken link.",
    "Related reading: more stories from the archive, popular posts this month and "
    "comments from our readers.",
    "Advertisement. Continue reading below. Sponsored content helps keep this site free.",
    "Skip to main content. Menu. Home. About. Contact. Search this site.",
    "Copyright all rights reserved. Privacy policy. Terms of use. Accessibility statement.",
)
