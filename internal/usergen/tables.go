package usergen

// The constant tables the generator draws from. They are package-level
// arrays only because Go has no constant arrays; nothing writes to them.

// name is a name part as people write it and its ASCII spelling for Login IDs
// and e-mail addresses (letters only, so a number appended to it stays
// unambiguous: "kovacs"+"12" can never equal another name plus another number).
type name struct {
	text, ascii string
}

// nationality is a pool of given and family names. familyFirst marks the
// Hungarian order "Kovács Péter".
type nationality struct {
	given, family []name
	familyFirst   bool
}

var nationalities = [...]nationality{
	{ // Hungarian
		familyFirst: true,
		given: []name{
			{"Péter", "peter"}, {"Anna", "anna"}, {"Zoltán", "zoltan"}, {"Katalin", "katalin"},
			{"László", "laszlo"}, {"Erzsébet", "erzsebet"}, {"Gábor", "gabor"}, {"Éva", "eva"},
			{"István", "istvan"}, {"Zsófia", "zsofia"}, {"Ádám", "adam"}, {"Dóra", "dora"},
			{"Bence", "bence"}, {"Réka", "reka"}, {"Tünde", "tunde"}, {"Győző", "gyozo"},
			{"Ildikó", "ildiko"}, {"Ödön", "odon"},
		},
		family: []name{
			{"Kovács", "kovacs"}, {"Nagy", "nagy"}, {"Tóth", "toth"}, {"Szabó", "szabo"},
			{"Horváth", "horvath"}, {"Varga", "varga"}, {"Kiss", "kiss"}, {"Molnár", "molnar"},
			{"Németh", "nemeth"}, {"Farkas", "farkas"}, {"Balogh", "balogh"}, {"Papp", "papp"},
			{"Takács", "takacs"}, {"Juhász", "juhasz"}, {"Oláh", "olah"}, {"Szűcs", "szucs"},
			{"Nagy-Tóth", "nagytoth"}, {"Fekete", "fekete"}, {"Bíró", "biro"}, {"Lőrinczi", "lorinczi"},
		},
	},
	{ // German
		given: []name{
			{"Jürgen", "juergen"}, {"Björn", "bjoern"}, {"Jörg", "joerg"}, {"Käthe", "kaethe"},
			{"Günther", "guenther"}, {"Sabine", "sabine"}, {"Lukas", "lukas"}, {"Anna-Lena", "annalena"},
			{"Maximilian", "maximilian"}, {"Uwe", "uwe"}, {"Claudia", "claudia"}, {"Jürgen-Peter", "juergenpeter"},
			{"Lena", "lena"}, {"Till", "till"}, {"Heike", "heike"}, {"Ralf", "ralf"},
		},
		family: []name{
			{"Müller", "mueller"}, {"Schröder", "schroeder"}, {"Weiß", "weiss"}, {"Groß", "gross"},
			{"Schmidt", "schmidt"}, {"Schneider", "schneider"}, {"Fischer", "fischer"}, {"Weber", "weber"},
			{"Meyer", "meyer"}, {"Wagner", "wagner"}, {"Hoffmann", "hoffmann"}, {"Schäfer", "schaefer"},
			{"Krüger", "krueger"}, {"Köhler", "koehler"}, {"Jäger", "jaeger"}, {"von der Heide", "vonderheide"},
			{"Bäumer", "baeumer"}, {"Döring", "doering"},
		},
	},
	{ // French
		given: []name{
			{"Françoise", "francoise"}, {"Zoë", "zoe"}, {"Hélène", "helene"}, {"Jérôme", "jerome"},
			{"Noël", "noel"}, {"Anaïs", "anais"}, {"Léa", "lea"}, {"Chloé", "chloe"},
			{"Étienne", "etienne"}, {"Maëlle", "maelle"}, {"Jean-Luc", "jeanluc"}, {"Marie-Claire", "marieclaire"},
			{"Benoît", "benoit"}, {"Céline", "celine"}, {"Gaël", "gael"}, {"Thérèse", "therese"},
		},
		family: []name{
			{"Lefèvre", "lefevre"}, {"Dupont", "dupont"}, {"Durand", "durand"}, {"Rousseau", "rousseau"},
			{"Lemaître", "lemaitre"}, {"Gauthier", "gauthier"}, {"Mercier", "mercier"}, {"Béranger", "beranger"},
			{"Chevalier", "chevalier"}, {"Girard", "girard"}, {"Leclerc", "leclerc"}, {"Moreau", "moreau"},
			{"Fontaine", "fontaine"}, {"d'Aubigné", "daubigne"}, {"Lefèvre-Dubois", "lefevredubois"}, {"Bélanger", "belanger"},
			{"Tremblay", "tremblay"}, {"Côté", "cote"},
		},
	},
	{ // Nordic
		given: []name{
			{"Søren", "soeren"}, {"Åsa", "aasa"}, {"Bjørn", "bjoern"}, {"Sigrún", "sigrun"},
			{"Øystein", "oeystein"}, {"Märta", "maerta"}, {"Åke", "aake"}, {"Ingrid", "ingrid"},
			{"Astrid", "astrid"}, {"Lars", "lars"}, {"Ólafur", "olafur"}, {"Kirsten", "kirsten"},
			{"Freja", "freja"}, {"Mikael", "mikael"}, {"Þóra", "thora"}, {"Jyrki", "jyrki"},
		},
		family: []name{
			{"Ørsted", "oersted"}, {"Lindström", "lindstroem"}, {"Johansson", "johansson"}, {"Sørensen", "soerensen"},
			{"Håkansson", "haakansson"}, {"Åberg", "aaberg"}, {"Kjærgaard", "kjaergaard"}, {"Nilsen", "nilsen"},
			{"Ødegård", "oedegaard"}, {"Bergström", "bergstroem"}, {"Þórsdóttir", "thorsdottir"}, {"Jónsson", "jonsson"},
			{"Virtanen", "virtanen"}, {"Mäkinen", "maekinen"}, {"Lindqvist", "lindqvist"}, {"Kähkönen", "kaehkoenen"},
		},
	},
	{ // English, so that plain ASCII names are in the mix too
		given: []name{
			{"James", "james"}, {"Olivia", "olivia"}, {"Emily", "emily"}, {"Michael", "michael"},
			{"Sophie", "sophie"}, {"Daniel", "daniel"}, {"Sarah", "sarah"}, {"Thomas", "thomas"},
			{"Grace", "grace"}, {"William", "william"}, {"Mary-Jane", "maryjane"}, {"Liam", "liam"},
		},
		family: []name{
			{"Smith", "smith"}, {"O'Brien", "obrien"}, {"Taylor", "taylor"}, {"Brown", "brown"},
			{"Wilson", "wilson"}, {"Evans", "evans"}, {"Smith-Jones", "smithjones"}, {"Walker", "walker"},
			{"Robinson", "robinson"}, {"McDonald", "mcdonald"}, {"Clarke", "clarke"}, {"Hughes", "hughes"},
		},
	},
}

// languages are the canonical codes; languageVariants are spellings the
// importer must accept and canonicalise (case-insensitive, '-' for '_').
var (
	languages        = [...]string{"en", "hu", "de", "fr", "fr_CA"}
	languageVariants = [...]string{"EN", "Hu", "DE", "Fr", "FR-ca", "fr-CA", "fr_ca", "FR_CA"}
)

var emailDomains = [...]string{
	"example.com", "example.org", "example.net", "mail.example.com", "corp.example.com",
}

// departments × sites give the group pool: 15 × 20 = 300 names, the longest
// "Technical Support København" well under the 64-character limit.
var (
	departments = [...]string{
		"Sales", "Support", "Billing", "Ügyfélszolgálat", "Kundenservice",
		"Vertrieb", "Comptabilité", "Réclamations", "Back Office", "Collections",
		"Retention", "Technical Support", "Quality Assurance", "Onboarding", "Helpdesk",
	}
	sites = [...]string{
		"Budapest", "Debrecen", "Győr", "Pécs", "Szeged",
		"Berlin", "München", "Köln", "Hamburg", "Paris",
		"Lyon", "Montréal", "Québec", "Oslo", "Tromsø",
		"København", "Aarhus", "Malmö", "Göteborg", "Zürich",
	}
)

var roles = [...]string{"agent", "supervisor", "admin", "auditor"}

var recordingModes = [...]string{"full", "on-demand", "manual", "no"}

// timeZones are all in Go's embedded tzdata, so the importer resolves them
// without the host's zoneinfo.
var timeZones = [...]string{
	"UTC", "Europe/Budapest", "Europe/Berlin", "Europe/Paris", "Europe/Vienna",
	"Europe/Zurich", "Europe/Oslo", "Europe/Stockholm", "Europe/Copenhagen", "Europe/Helsinki",
	"Atlantic/Reykjavik", "Europe/London", "Europe/Lisbon", "America/Toronto", "America/New_York",
	"America/Chicago", "America/Los_Angeles", "America/St_Johns", "America/Sao_Paulo", "Asia/Tokyo",
	"Asia/Kolkata", "Australia/Sydney", "Africa/Johannesburg",
}

// customTexts exercise quoting: the delimiters, doubled quotes, a line break,
// a leading '=' and '-' (CSV-injection escaping in reports) and non-ASCII text.
var customTexts = [...]string{
	"Cost center 4711",
	"Night shift, weekends",
	`Team "Blue"`,
	"EMEA; Tier 2",
	"Külső partner",
	"Teilzeit (50 %)",
	"Remote – Lyon",
	`Badge "A-17", floor 3; desk 12`,
	"Floor 3\nDesk 12",
	"Langue préférée : français",
	"Vikar; Oslo",
	"=1+1 (not a formula)",
	"-5 % Rabatt",
	"@support",
	"Bilingual EN/FR",
	"Ügyeletes hétvégén",
}

var promptFiles = [...]string{
	"welcome_en.wav", "welcome_hu.wav", "welcome_de.wav", "welcome_fr.wav",
	"bienvenue_fr_CA.wav", "queue_music.mp3", "recording_notice_en.wav",
	"felvetel_tajekoztato.wav", "Aufzeichnung Hinweis.wav", "üdvözlés.wav",
}

var conferenceMessages = [...]string{
	"This meeting is being recorded.",
	"Ez a beszélgetés rögzítésre kerül.",
	"Dieses Gespräch wird aufgezeichnet.",
	"Cette conférence est enregistrée.",
	"Denne samtalen blir tatt opp.",
	"This call is recorded for quality and training purposes, and may be reviewed.",
}
