package extract

// Out of its conversation "I'll loop you in" and "I'll follow up with him
// tomorrow" tell a person nothing; the conversation says who "you" and
// "him" are.

// namePronouns writes, in an item's text, the person the conversation
// means for "you" in the speaker's own commitment ("I'll loop you in" →
// "Loop Femi in": the person the message answers or is addressed to) and
// for "him" or "her" as an object ("follow up with him" → "follow up with
// Dmitri": the person last named before it, other than the speaker).
func (d *document) namePronouns(found []actionItem, built []builtItem) {
	for i := range found {
		b := &built[i]
		if b.drop || b.replaced {
			continue
		}
		ws := b.words()
		for k := range ws {
			var name string
			switch ws[k].norm {
			case "you", "u":
				if b.how == ownerSpeaker && objectAt(ws, k) {
					if owner, how := d.addressee(found[i].unit); how != ownerNone {
						name = owner
					}
				}
			case "him", "her":
				if objectAt(ws, k) && (k+1 == len(ws) || ws[k].brkAfter || has(afterObject, ws[k+1].norm)) {
					name = d.lastNamed(found[i].pos, b.owner)
				}
			}
			if name != "" && !sameName(name, b.owner) {
				b.setText(b.text[:ws[k].start] + name + b.text[ws[k].end:])
				break // one pronoun per item: the words have moved
			}
		}
	}
}

// objectVerbs take a person as their object in a task: "send you", "loop
// you in", "follow up with him".
var objectVerbs = wordSet(`send loop let tell ping cc give update show remind email call ring text message keep brief chase ask invite follow with to for
introduce thank pay forward copy notify contact meet`)

// afterObject may follow "him" or "her" as an object (not "her laptop").
var afterObject = wordSet(`about on in to for with and tomorrow today tonight again back when once if asap later now first up know`)

// objectAt reports whether ws[k] is the object of a verb or preposition
// before it, not a subject ("if you", "you will").
func objectAt(ws []word, k int) bool {
	if k == 0 || ws[k].brkBefore {
		return false
	}
	return has(objectVerbs, ws[k-1].norm) || has(actionVerbs, ws[k-1].norm)
}

// lastNamed finds the person last named before sentence si, in its line
// and up to three lines before: a speaker, an @mention, a name written
// with a capital inside a sentence or from an attendee list, other than
// the one who speaks in si and than owner.
func (d *document) lastNamed(si int, owner string) string {
	u := &d.units[d.sents[si].unit]
	first := d.sents[si].unit - 3
	for k := si; k >= 0 && d.sents[k].unit >= first; k-- {
		text := d.sents[k].text
		ws := splitWords(text)
		end := len(ws)
		if k == si {
			end = 0 // a name in the task's own sentence is its owner or addressee
		}
		for j := end - 1; j >= 0; j-- {
			w := ws[j]
			if !w.cap && !w.mention || !(d.names[w.norm] || d.proper[w.norm] || d.attendees()[w.norm]) {
				continue
			}
			if name := w.raw; !sameName(name, u.speaker) && !sameName(name, owner) && !has(englishStop, w.norm) {
				return name
			}
		}
	}
	return ""
}
