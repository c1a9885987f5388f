"""The words extraction reads numbers and values by: what a number is attached to (a unit, a
label), what makes a statement the customer's own, and the small talk that changes nothing.

Data only (lowercase, accents kept), in the languages whose number words `text2num` reads:
English first, then French, German, Spanish, Italian, Portuguese and Dutch where the word is
common. A word missing here makes extraction *more* careful, never less: an unknown word after a
number attaches the number to it (see domain/quantities.py), so it is not taken for a value.
"""

from enum import StrEnum


class Kind(StrEnum):
    """What a number attached to a unit or a label measures."""

    AGE = "age"
    DURATION = "duration"
    TIME = "time of day"
    MONEY = "money"
    PERCENT = "percent"
    WEIGHT = "weight"
    LENGTH = "length"
    ORDINAL = "ordinal"
    REFERENCE = "reference"  # order numbers, rooms, tickets: an identifier, never a quantity
    YEAR = "year"
    DATE = "date"
    PHONE = "phone"
    CODE = "code"  # 1.2.3, 12345abc: not a number at all
    RANGE = "range"  # 18-25, 5/10
    RATE = "rate"  # "a month", "per year": qualifies an amount, measures nothing itself
    NOUN = "noun"  # any other word: "2 kids", "1 of", "3 stops"


def words(text: str) -> frozenset[str]:
    """The set of the words of a space-separated list."""
    return frozenset(text.split())


# Units: the word right after a number (or glued to it: 34yo, 10min, 5km).
UNITS: dict[Kind, frozenset[str]] = {
    Kind.AGE: words("yo y/o y.o yrs-old jährig ans jahre jahren años anni anos jaar"),
    Kind.DURATION: words(
        "sec secs second seconds min mins minute minutes h hr hrs hour hours day days d week weeks "
        "wk wks month months mo year years yr yrs minuten stunde stunden tag tage tagen woche wochen "
        "monat monate jahr heure heures jour jours semaine semaines mois an minuto minutos hora horas "
        "día días dia dias semana semanas mes meses ora ore giorno giorni settimana settimane mese mesi "
        "anno uur uren dag dagen week weken maand maanden"
    ),
    Kind.TIME: words("am pm a.m p.m o'clock uhr heure"),
    Kind.MONEY: words(
        "€ $ £ ¥ ₹ eur euro euros usd dollar dollars bucks gbp quid chf franc francs yen cent cents "
        "pence k$ euro's"
    ),
    Kind.PERCENT: words("% percent pct pourcent prozent por porcento percento procent"),
    Kind.WEIGHT: words("kg kgs kilo kilos kilogram kilograms g gr gram grams lb lbs pound pounds oz stone"),
    Kind.LENGTH: words(
        "km kms kilometer kilometers kilometre kilometres mi mile miles m meter meters metre metres cm "
        "mm ft feet foot inch inches '"
    ),
    Kind.RATE: words("monthly yearly annually weekly daily hourly net gross pa"),
}
# Glued to a number only (1st, 2nd, 1er, 2e, 3º): ordinals, never quantities.
ORDINAL_SUFFIXES = words("st nd rd th º ª e er ère eme ème re te ten ter tes o a")
# "years" after a number is an age only as a statement about oneself ("I'm 34 years",
# "j'ai 34 ans") or followed by "old"; otherwise it is a duration ("for 5 years").
AGE_YEARS = words("year years yr yrs ans an jahre jahren años anni anos jaar")
OLD = words("old alt oud")
# Scale words multiply the number before them: 1.5k, 2 thousand, deux mille.
SCALES = {"k": 1000, "thousand": 1000, "thousands": 1000, "grand": 1000, "mille": 1000, "mil": 1000}
SCALES |= {
    "hundred": 100,
    "hundreds": 100,
    "cent": 100,
    "cents": 100,
    "hundert": 100,
    "cien": 100,
    "cento": 100,
}
SCALES |= {"tausend": 1000, "mila": 1000, "million": 10**6, "millions": 10**6, "mio": 10**6}
# A period after an amount ("2,500 a month", "per year", "/month") makes it a rate: each period
# word, in any of the languages, with the English period it names.
PERIOD_OF: dict[str, str] = {}
for _period, _names in {
    "month": "month months monthly mo mois mensuel monat monate monatlich mes meses mensual mese mesi maand",
    "year": "year years yearly annual annually yr an ans annuel jahr jahre jährlich año años anual anno jaar",
    "week": "week weeks weekly semaine semaines woche wochen semana semanas settimana",
    "day": "day days daily jour jours tag tage día días giorno giorni dag",
    "hour": "hour hours hourly hr heure heures stunde stunden hora horas ora ore uur",
}.items():
    PERIOD_OF |= dict.fromkeys(_names.split(), _period)
RATE_LEADS = words("a an per par pro al por each every /")

# Labels: the word right before a number that makes it an identifier or a position.
REFERENCES = words(
    "# n° nº nr num order orders ref reference invoice tracking ticket booking case "
    "account customer parcel package shipment item sku room table seat gate flight bus train line "
    "platform step page version model size code pin zip postcode apartment apt floor suite unit "
    "street box id commande facture colis bestellung rechnung pedido factura ordine fattura "
    "encomenda bestelling"
)
MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "january jan janvier janv januar jän enero gennaio janeiro januari",
        "february feb février févr fevrier februar febrero febbraio fevereiro februari",
        "march mar mars märz marz marzo março maart",
        "april apr avril abril aprile",
        "may mai mayo maggio maio mei",
        "june jun juin juni junio giugno junho",
        "july jul juillet juil juli julio luglio julho",
        "august aug août aout agosto augustus",
        "september sep sept septembre septiembre settembre setembro",
        "october oct octobre oktober octubre ottobre outubro",
        "november nov novembre noviembre novembro",
        "december dec décembre déc decembre dezember diciembre dicembre dezembro",
    ],
    start=1,
):
    MONTHS |= dict.fromkeys(_names.split(), _number)
# A four-digit year after one of these is a year, not an amount ("born in 1985", "since 2019").
YEAR_LEADS = words(
    "in since born from year until till before after en depuis né née seit im geboren desde nacido "
    "nacida dal nel nato nata em desde nascido nascida sinds geboren"
)

# Before a number: it is a bound, not the value ("over 18", "less than 2,000").
BOUNDS = words(
    "over under above below least most than minimum maximum max min plus moins mehr über unter almost nearly "
    "presque fast casi quase bijna"
)
# Before a number: it is a change, not the value ("I lost 5 kg", "an extra 200").
DELTAS = words("lost lose losing gained gain gaining dropped extra additional another")
# Before a number: an estimate, to be confirmed ("about 34", "~2,500").
APPROXIMATE = words(
    "about around approximately approx roughly circa ca ~ environ vers etwa ungefähr unos unas "
    "aproximadamente circa cerca ongeveer"
)
NOT = words("not never nicht kein keine nie pas jamais nunca mai niet geen")  # "not 18", "no 43" is an answer
NEGATIONS = NOT | words("no non nada")
# Before a value: it is about someone else ("my son is 5", "my wife's email is ...").
OTHERS = words(
    "son sons daughter daughters kid kids child children baby wife husband partner brother sister "
    "mother mom mum father dad parent parents grandma grandpa grandmother grandfather friend friends "
    "boss colleague he she they his her their him them your fils fille femme mari frère soeur "
    "sœur mère père sohn tochter frau mann bruder schwester mutter vater hijo hija esposa esposo "
    "hermano hermana madre padre figlio figlia moglie marito fratello sorella filho filha"
)
# Before a value: it is no longer true ("my old address", "my previous salary").
STALE = words("old previous former ex ancien ancienne alte alten früher antiguo anterior vecchio")
# Before a value: it is the current one ("the new one is ...").
CURRENT = words("new current latest nouveau nouvelle neue neuer nuevo nueva nuovo nuova novo nieuwe")
# Between numbers: they form a list ("3 and 5 years old", "2 or 3 boxes", "4, 6 and 9").
LIST_JOINTS = words("and or to , & et ou und oder y o e")
# Before a number, as its subject: a thing, not the customer ("the parcel weighs 3 kg", "it's 5").
THINGS = words("the this that these those it it's its")
# Before a value: the value is not the customer's own (someone else's, or no longer true).
NOT_CURRENT = OTHERS | STALE
# Before a number: a statement about oneself ("I'm 34", "j'ai 34 ans", "ich bin 34").
SELF = words("i'm im am j'ai bin tengo tenho ho sono soy sou ben")  # typographic apostrophes are read as '
# Before "N years": it is a duration, even in an answer to an age question ("for 5 years").
DURATION_LEADS = words(
    "for since ago after before within during in depuis pendant seit für vor desde durante hace da per há"
)
SELF_PAIRS = {("i", "am"), ("ich", "bin"), ("ik", "ben"), ("je", "suis"), ("j", "ai")}
# Before a number: "I turned 34", "turning 40 next week".
AGE_VERBS = words("turned turning turn aged age âge alter edad età idade leeftijd cumplí compie")

# After a number: words that leave it bare ("I'm 34 and ...", "34 now", "34, thanks").
FREE_AFTER = words(
    "and or but so then too also now today already yet though actually really lol haha thanks "
    "thank please pls btw ok okay yes no myself me is was are were will since because as if when "
    "here there right sir madam last next this that who which max maximum tops et ou mais donc merci "
    "und oder aber danke y o pero gracias e ma grazie obrigado en maar dank"
)
# Between a hint and its value ("my age is 34", "age: 34", "income of 2,500").
CONNECTORS = words(
    ": = - is are was were 's be being of now currently just exactly i i'm im am me my at to up on "
    "est ist es è é de du van te € $ £ ¥ ₹"
)

# Field words that relate a field to a unit kind (its name, label, hints or question).
AGE_WORDS = words("age aged old âge alter edad età idade leeftijd")
MEASURES: tuple[tuple[Kind, frozenset[str]], ...] = (
    # Words that name what a number measures, in groups of synonyms (across the languages). A field
    # whose words meet a group takes its kind ("income" makes a field about money) and its words as
    # hints ("Mein Gehalt ist 3.200" for an income); a word of another group before a number names
    # another measure ("my rent is 900" is no income, "my weight is 80" no age).
    (Kind.AGE, AGE_WORDS),
    (
        Kind.MONEY,
        words(
            "income salary earn earns earned earning earnings wage wages revenue turnover revenu revenus "
            "salaire gagne gehalt einkommen verdiene ingresos sueldo salario gano reddito stipendio "
            "guadagno renda ganho salário inkomen"
        ),
    ),
    (Kind.MONEY, words("price cost costs fee fees total charge charged bill prix preis precio prezzo")),
    (Kind.MONEY, words("budget spend spending")),
    (Kind.MONEY, words("rent loyer miete alquiler affitto aluguel huur")),
    (Kind.MONEY, words("savings balance deposit loan debt")),
    (Kind.PERCENT, words("percent percentage rate share ratio")),
    (Kind.WEIGHT, words("weight weigh weighs poids pèse gewicht wiege peso")),
    (Kind.LENGTH, words("distance height tall length commute")),
    (Kind.DURATION, words("duration delay experience tenure")),
    (Kind.TIME, words("time appointment")),
    (Kind.ORDINAL, words("rank position place")),
    (Kind.YEAR, words("year born birth")),
)
# First words of a question that asks rather than tells ("is the age limit 18?", "what's the
# difference between gold and silver?"); a request ("can I have the gold plan?") tells.
ASKING = words(
    "what what's which who where when why how is isn't are aren't does doesn't do don't did was were "
    "quel quelle quels quoi où quand pourquoi comment combien est-ce was wer wo wann warum wie welche "
    "ist sind qué cuál cuánto cuándo dónde por cómo cosa quale quando dove perché come quanto"
)
# Words of a field's name that are no hint of it ("number_of_children": "number 5" is no count).
NAME_NOISE = words("number count total amount value date id type no nr")
# Words of a question that say nothing about the field (for relating units to it).
QUESTION_NOISE = words(
    "what which how many much is are your you the a an do does did before we continue please tell "
    "us me my of in for to and or quel quelle est votre was ist ihr cuál es su"
)

YES = words(
    "yes yeah yep yup yea ya sure ok okay correct right true affirmative absolutely definitely "
    "indeed exactly subscribe oui ouais si sí sì ja jawohl genau claro sim certo esatto vale jep klopt"
)
NO = words("no nope nah never false wrong incorrect negative non nein não nao nee niet nö stop unsubscribe")
YES_PHRASES = ("no problem", "no worries", "why not", "of course", "go ahead", "that's it", "bien sûr")
NO_PHRASES = ("of course not", "not at all", "absolutely not", "certainly not", "definitely not", "no way")
UNSURE_PHRASES = (
    "not sure",
    "no idea",
    "don't know",
    "dont know",
    "do not know",
    "dunno",
    "maybe",
    "perhaps",
    "not certain",
    "je ne sais pas",
    "weiß nicht",
    "keine ahnung",
    "no sé",
    "no se",
    "non so",
    "não sei",
)

# A few function words per language, to pick which language's number words to read.
LANGUAGE_MARKERS: dict[str, frozenset[str]] = {
    "en": words("the i i'm my is am and you years old what have"),
    "fr": words("je j'ai suis ans le la les mon ma et vous est pour"),
    "de": words("ich bin jahre alt und der die das ist mein meine habe"),
    "es": words("tengo años soy el la mi es que y los por"),
    "it": words("ho anni sono il lo mio mia che di per"),
    "pt": words("tenho anos sou o meu minha que não os"),
    "nl": words("ik ben jaar oud het de en mijn is een"),
}
# Role addresses: a customer quoting ours ("I wrote to support@...") is not giving theirs.
ROLE_MAILBOXES = words(
    "support info contact help hello sales admin service noreply no-reply billing team office "
    "customerservice webmaster postmaster"
)
# Before a phone number or e-mail address: it is ours or someone else's, not the customer's.
NOT_THEIRS = NOT_CURRENT | words("your called dialed dialled wrote emailed cc hotline from fax")
# Before a date: a bound, not the date ("deliver after 3 June", "not before 2025-06-01").
DATE_BOUNDS = words(
    "after before until till from since later earlier après avant jusqu nach vor bis después antes"
)
# Units of one kind written differently: a field that names one ("weight_kg", "in euros") takes
# no other ("165 lbs", "$1,200").
SAME_UNIT: dict[str, str] = {}
for _unit, _names in {
    "eur": "€ eur euro euros",
    "usd": "$ usd dollar dollars bucks",
    "gbp": "£ gbp pound pounds quid",
    "chf": "chf franc francs",
    "kg": "kg kgs kilo kilos kilogram kilograms kilogramme kilogrammes",
    "lb": "lb lbs",
    "g": "g gr gram grams gramme grammes",
    "km": "km kms kilometer kilometers kilometre kilometres",
    "mi": "mi mile miles",
    "m": "m meter meters metre metres",
    "cm": "cm centimeter centimeters centimetre centimetres",
    "ft": "ft feet foot",
}.items():
    SAME_UNIT |= dict.fromkeys(_names.split(), _unit)
# Words that make a field an identifier ("order_number"): only then is "order 12345" its value.
IDENTIFIERS = words("number id no nr ref reference code")
# After a unit: what the quantity is of ("2 kg of coffee", "3 boxes of 12").
OF = words("of de di von du des")
# Titles written with a full stop inside a name ("Dr. Ana Costa").
TITLES = words("dr mr mrs ms mme mlle prof sr sra jr st")
# Before a string value: a description, not a name ("I live in a small flat", "my name is on
# the order").
NOT_A_NAME = words(
    "a an the my our some on in at for with from to of by un une le la les ein eine einen el una uno il lo "
    "sur dans auf"
)
# Before an enum value: a choice, to be confirmed ("upgrade me to gold").
CHOICES = words("want like choose chose pick take prefer upgrade downgrade switch change go")
# Words that say a field is a phone number / e-mail / birth date (hints the operator need not write).
PHONE_WORDS = words(
    "phone mobile cell tel telephone whatsapp call reach text number portable handy móvil telefono "
    "telefone téléphone telefon"
)
EMAIL_WORDS = words("email e-mail mail address courriel")
BIRTH_WORDS = words(
    "geburtsdatum naissance nacimiento nascita nascimento geboortedatum "
    "born birthday birth dob né née geboren geburtstag nacido nací cumpleaños nato nascido nasci"
)


IRREGULAR = {"children": "child", "people": "person", "feet": "foot", "men": "man", "women": "woman"}


def singular(word: str) -> str:
    """Crude English singular, enough to relate "kids" to "kid" and "minutes" to "minute"."""
    if word in IRREGULAR:
        return IRREGULAR[word]
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
