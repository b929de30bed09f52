package extract

import "strings"

// The word lists below are data, kept in one file so that tuning the analyzer
// rarely means touching its logic. Each is a space-separated string turned
// into a set once, at package initialisation, by pure computation.

// englishStop are function words and chat filler: never content, never a
// keyword, and they split keyword phrases (as in RAKE).
var englishStop = wordSet(`
a about above across after afterwards again against all almost alone along already also although always am among amongst an and another any anybody anyhow anyone anything anyway anyways anywhere are aren't around as at
back be became because become becomes becoming been before beforehand behind being below beside besides between beyond both but by
can can't cannot could couldn't
did didn't do does doesn't doing don't done down during
each either else elsewhere enough especially etc even ever every everybody everyone everything everywhere except
few first for former formerly from further furthermore
had hadn't has hasn't have haven't having he he'd he'll he's hence her here here's hers herself him himself his how how's however
i i'd i'll i'm i've ie e.g eg i.e if in indeed instead into is isn't it it'd it'll it's its itself
just
last later latter least less let let's lets
made many may maybe me meanwhile might mine more moreover most mostly much must mustn't my myself
namely neither never nevertheless next no nobody none noone nor not nothing now nowhere
of off often on once one ones only onto or other others otherwise ought our ours ourselves out over overall own
per perhaps please put
quite
rather re really
same several shall shan't she she'd she'll she's should shouldn't since so some somebody somehow someone something sometime sometimes somewhat somewhere soon still such
than that that's thats the their theirs them themselves then thence there there's thereafter thereby therefore therein these they they'd they'll they're they've this those though through throughout thru thus to together too toward towards
under unless until up upon us
very via
was wasn't we we'd we'll we're we've were weren't what what's whatever when whence whenever where where's whereas whereby wherever whether which while who who's whoever whole whom whose why will with within without won't would wouldn't
yet you you'd you'll you're you've your yours yourself yourselves
ok okay k kk yeah yea yep yup yes yah nope nah hi hey hello hiya thanks thank thx ty cheers bye lol lmao haha hahaha hmm hm umm um uh uhh oh ah oops wow
just like sure cool great good nice awesome perfect fine alright right well anyway btw fyi imo imho tbh afaik asap pls plz
gonna wanna gotta kinda sorta dunno
guys folks everyone all y'all team
really actually basically literally totally probably definitely certainly quickly honestly obviously
thing things stuff bit lot lots kind sort way ways
dr mr mrs ms mx prof jr sr
`)

// keywordSkip are words that carry meaning in a sentence but never name a
// conversation's topic: generic verbs, time words, and the vocabulary of
// meeting notes themselves. They are content for sentence similarity but
// not keywords, and they split keyword phrases.
var keywordSkip = wordSet(`
get gets got getting gotten make makes made making take takes took taking taken go goes went going gone come comes came coming
do say says said saying tell tells told ask asks asked asking see sees saw seen seeing look looks looked looking
know knows knew known think thinks thought want wants wanted need needs needed needing
try tries tried trying keep keeps kept use uses used using give gives gave given find finds found
seem seems seemed feel feels felt mean means meant show shows showed shown help helps helped
send sends sent sending check checks checked checking start starts started starting finish finished
work works worked working happen happens happened let lets sound sounds sounded agree agreed
put puts call calls called hear heard wait waiting waited
today tomorrow yesterday tonight morning afternoon evening night week weeks day days month months year years
monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun
eod eow cob eom noon midnight am pm a.m p.m min mins minute minutes hour hours sec secs second seconds time times
now soon later earlier ago tbd n/a
action actions item items todo todos to-do fixme note notes agenda attendees minutes update updates summary
status blocker blockers meeting meetings call standup step steps follow follow-up followup question questions
issue issues problem problems idea ideas point points plan plans
new old big small same different able sure ready quick easy hard better best worse worst
yes no maybe thing things someone anyone everyone roll fail fails failed failing daily weekly monthly quarterly
pair pairing review reviews reviewed reviewing project projects kickoff
talk talks talked talking discuss discussed discussing mention mentioned
sprint sprints retro retros retrospective
january february march april june july august september october november december
`)

// actionVerbs are verbs whose base form opens a task ("update the runbook")
// or follows a commitment ("I'll send", "Bob to draft").
var actionVerbs = wordSet(`
add address align arrange analyse analyze announce answer approve archive ask assign audit automate
backfill benchmark block book brief bring build bump buy
call cancel capture cc change chase check circle circulate clarify clean close collect communicate compile complete configure confirm connect consolidate contact coordinate cover create cut
debug decide define delete deliver demo deploy design dig disable discuss document double-check draft drive drop
edit email enable escalate estimate evaluate explore export extend
figure file fill finalise finalize find finish fix flag follow forward
gather generate get give grab
hand handle help hire host
identify implement improve include install integrate interview introduce invite investigate issue
keep kick label land launch lead learn list load log look loop
mail make manage map mark measure meet mention merge message migrate monitor move
note notify
obtain onboard open order organise organize own
page pair pass patch pay pick pin ping plan polish post prepare present price print prioritise prioritize produce profile propose provide publish pull purchase push put
quarantine
raise reach read rebase rebook rebuild recheck reconcile record reduce refactor refresh reject release remind remove rename renew reopen repeat reply report reproduce request rerun reschedule research reserve resolve respond restart restore resume retest retry return revert review revisit rewrite ring roll rotate run
schedule scope send set setup share ship sign sort split spike start submit suggest summarise summarize support swap sync
tag take talk test tidy track train transfer triage try turn tweak
unblock update upgrade upload
validate verify
walk watch wrap write
`)

// fillerWords open a chat sentence without adding meaning ("ok so", "also")
// and are trimmed from the front of summaries and action items.
var fillerWords = wordSet(`ok okay k kk yeah yep yup yea sure so also and but then oh ah hmm anyway btw fyi ps`)

// interjections are trimmed from the front only when punctuation follows:
// "Thanks, I'll send it" but not "Thanks for the update", "Right, so" but
// not "Right now".
var interjections = wordSet(`thanks thx ty great cool nice perfect awesome right correct exactly absolutely agreed noted yes well hi hey hello alright done`)

// actionLabels name a line or section that lists tasks: "TODO: …",
// "Action item: …", "## Next steps".
var actionLabels = wordSet(`todo to-do fixme action actions ai ais task tasks`)

// actionLabelPhrases are multi-word forms of actionLabels.
var actionLabelPhrases = []string{"action item", "action items", "next step", "next steps", "follow up", "follow-up", "follow ups", "follow-ups", "followups", "to do", "open items", "open tasks"}

// metaLabels open a line of notes ("Decision: ship Friday") and so look like
// a speaker prefix but are not one.
var metaLabels = wordSet(`
note notes nb decision decisions decided summary agenda attendees present absent participants ppl people update updates status
blocker blockers blocked re fw fwd subject from to cc bcc date time when where location q a question questions answer
ps tl;dr tldr edit context background problem issue goal goals objective objectives owner owners due deadline risk risks
outcome outcomes result results reminder important warning error info debug tip example yesterday today tomorrow done doing
wip progress topic topics title purpose link links url ref see step phase option pros cons priority minutes
feedback comment comments description expected actual workaround resolution impact severity reason why what how who
proposal recap highlights lowlights wins kudos eta target targets scope in out budget cost costs timeline milestone milestones
deliverable deliverables requirement requirements dependencies assumptions constraints success metrics kpi kpis stakeholders
lead reviewer reviewers assignee reporter labels component sprint release version environment platform browser os repro
`)

// logistics are the labels of lines that record when, where and who rather
// than what was said; such lines are not summary material.
var logistics = wordSet(`date time when where location attendees present absent participants ppl people from to cc bcc owner owners link links url ref eta due deadline reviewer reviewers assignee reporter labels component sprint version environment platform browser os`)

// roleNames are speaker prefixes that name a role rather than a person;
// one occurrence is enough to read them as a speaker.
var roleNames = wordSet(`customer agent support user client host moderator interviewer candidate bot me you assistant system admin operator caller`)

// dateWords after "by", "before", "until" or "due" make a due date.
var dateWords = wordSet(`
today tonight tomorrow eod eow cob eom eoy noon midnight end next this
monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec q1 q2 q3 q4
`)

// abbreviations never end a sentence ("e.g.", "Dr.").
var abbreviations = wordSet(`e.g eg i.e ie dr mr mrs ms mx prof sr jr st vs v cf incl al viz gen col lt sgt capt rev hon mt approx dept fig`)

// softAbbreviations end a sentence only when a capital follows ("etc. We").
var softAbbreviations = wordSet(`etc inc ltd co corp llc jan feb mar apr jun jul aug sep sept oct nov dec no nos est min max am pm a.m p.m u.s u.k ca`)

// Non-English function words. When a conversation is mostly in one of these
// languages its list is added to the stop words, so keywords and sentence
// similarity still work; English stays the default.
var foreignStop = map[string]map[string]struct{}{
	"de": wordSet(`aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes auch auf aus bei beim bin bis bist da damit dann das dass dem den denn der des dich die dies diese diesem diesen dieser dieses dir doch dort du durch ein eine einem einen einer eines er es etwas euch euer für gegen gewesen hab habe haben hat hatte hier hin hinter ich ihm ihn ihnen ihr ihre im in ist ja jede jedem jeden jeder jetzt kann kein keine können man mein meine mich mir mit muss müssen nach nicht nichts noch nun nur ob oder ohne schon sehr sein seine sich sie sind so soll sollen sollte über um und uns unser unter vom von vor war waren warum was weil weiter welche wenn wer werde werden wie wieder will wir wird wo wollen zu zum zur zwischen danke bitte genau okay mal gerne`),
	"fr": wordSet(`au aux avec ce ces cette cela ça dans de des du elle elles en est et être eu il ils je la le les leur leurs lui ma mais me même mes moi mon ne nos notre nous on ou où par pas pour qu que qui sa se ses si son sur ta te tes toi ton tu un une vos votre vous été avoir fait faire sont était avons avez ont sera doit faut aussi bien très plus tout tous toute toutes comme donc alors encore déjà merci oui non bon voilà peut va vais`),
	"es": wordSet(`a al algo algunos ante antes como con contra cual cuando de del desde donde durante e el ella ellas ellos en entre era es esa esas ese eso esos esta estaba estamos estar este esto estos fue ha había hay la las le les lo los más me mi mis mucho muy nada ni no nos nosotros o otra otro para pero poco por porque que quien se ser si sin sobre somos son su sus también tan te tenemos tengo tiene todo todos tu tus un una uno unos usted vamos y ya yo gracias sí bueno vale hola puede hacer hace va van voy`),
	"pt": wordSet(`a ao aos as até com como da das de dela dele do dos e ela ele eles em entre era essa esse esta este eu foi há isso isto já lhe mais mas me mesmo meu minha muito na nas não nem no nos nós num numa o os ou para pela pelo por qual quando que quem se sem ser seu sua são só também te tem temos tu um uma você vocês obrigado obrigada sim vamos está estão fazer pode`),
	"it": wordSet(`a ad al alla alle anche c che chi ci come con da dal dalla dei del della delle di dove e è ed gli ha hanno ho i il in io la le lei lo loro lui ma mi mio nel nella no noi non o per più perché quando questa questo se si sono su sua suo tra tu un una uno voi grazie sì va bene allora fare può deve siamo`),
	"nl": wordSet(`aan al als bij dan dat de deze die dit doen door een en er haar heb hebben het hier hij hoe ik in is ja je kan maar me met mij moet na naar niet nog nu of om onder ons ook op over te tot uit van voor was wat we wel wie wij wil worden wordt zal ze zijn zo zou dank bedankt graag even`),
}

// wordSet builds a set from a whitespace-separated list.
func wordSet(list string) map[string]struct{} {
	fields := strings.Fields(list)
	set := make(map[string]struct{}, len(fields))
	for _, f := range fields {
		set[f] = struct{}{}
	}
	return set
}

// has reports whether set holds w.
func has(set map[string]struct{}, w string) bool {
	_, ok := set[w]
	return ok
}
