// Package reply finds what a person wrote in a reply email.
//
// BodyText decodes a raw message into readable UTF-8 text (MIME structure,
// transfer encodings, charsets, HTML). Trim then splits that text into the
// part the person wrote (visible) and everything else (elided): quoted
// originals, "On ... wrote:" / "Vào ... đã viết:" reply headers in many
// languages, Outlook header blocks, forwarded-message markers, signatures
// and mobile footers.
//
// Convention for elided: it is made of whole, unchanged input lines, so
// quoted lines keep their "> " markers (and nested ">> " markers). People
// often answer a questionnaire by typing inside the quoted text; a caller
// that reads those answers takes them from elided and strips the markers
// itself.
//
// Score measures Trim against a labelled corpus of replies (see
// corpus_test.go and the shared corpora README).
package reply
