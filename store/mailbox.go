package store

import (
	"strings"
	"unicode"
)

// NormalizeMailbox trims and lower-cases an address. Official mail systems
// treat local parts case-insensitively, and duplicates must be found the way
// the server would see them.
func NormalizeMailbox(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CheckMailbox reports why s is not a bare RFC 5322 addr-spec that phieu will
// send to, or "" if it is. Display names and angle brackets are refused (they
// belong in other columns); internationalized domain names are allowed.
func CheckMailbox(s string) string {
	if s == "" {
		return "is empty"
	}
	if msg := CheckText(s); msg != "" {
		return msg
	}
	if len(s) > 254 {
		return "is longer than 254 characters"
	}
	if strings.ContainsAny(s, "<>") {
		return "should be the address alone, without a name or < >"
	}
	if strings.ContainsAny(s, " \t") {
		return "contains a space"
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "is not an email address (no @)"
	}
	local, domain := s[:at], s[at+1:]
	if msg := checkLocalPart(local); msg != "" {
		return msg
	}
	return checkDomain(domain)
}

func checkLocalPart(local string) string {
	if local == "" {
		return "has nothing before the @"
	}
	if len(local) > 64 {
		return "has a local part longer than 64 characters"
	}
	if strings.HasPrefix(local, `"`) {
		return "has a quoted local part, which official mail systems do not accept"
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "has a misplaced dot before the @"
	}
	for _, r := range local {
		if r > unicode.MaxASCII {
			return "has a non-ASCII character before the @"
		}
		if !isAtext(byte(r)) && r != '.' {
			return "has the character " + string(r) + " before the @, which is not allowed"
		}
	}
	return ""
}

// isAtext reports RFC 5322 atext characters.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func checkDomain(domain string) string {
	if domain == "" {
		return "has no domain after the @"
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return "has a domain without a dot (" + domain + ")"
	}
	for _, label := range labels {
		if label == "" {
			return "has an empty part in the domain " + domain
		}
		if len(label) > 63 {
			return "has a domain part longer than 63 characters"
		}
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "has a domain part that starts or ends with a hyphen"
		}
		for _, r := range label {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) {
				return "has the character " + string(r) + " in the domain, which is not allowed"
			}
		}
	}
	tld := labels[len(labels)-1]
	for _, r := range tld {
		if unicode.IsDigit(r) {
			return "has a numeric top-level domain (" + tld + ")"
		}
	}
	return ""
}

// MailboxDomain returns the part after the last @.
func MailboxDomain(mailbox string) string {
	return mailbox[strings.LastIndexByte(mailbox, '@')+1:]
}
