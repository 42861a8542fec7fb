package tlspolicy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"
)

// profileFile is the YAML form of a custom profile. A field left out keeps
// the value of the base profile (or stays empty when there is no base).
type profileFile struct {
	Name                string          `yaml:"name"`
	Base                string          `yaml:"base"`
	MinVersion          *versionName    `yaml:"min_version"`
	MaxVersion          *versionName    `yaml:"max_version"`
	CipherSuites        []suiteName     `yaml:"cipher_suites"`
	TLS13CipherSuites   []suiteName     `yaml:"tls13_cipher_suites"`
	Groups              []groupName     `yaml:"groups"`
	Keys                *keyPolicyFile  `yaml:"keys"`
	SignatureAlgorithms []signatureName `yaml:"signature_algorithms"`
}

type keyPolicyFile struct {
	MinRSABits  int      `yaml:"min_rsa_bits"`
	ECDSACurves []string `yaml:"ecdsa_curves"`
	Ed25519     bool     `yaml:"ed25519"`
}

type versionName uint16

// UnmarshalYAML parses a version name, reporting the line of a bad one.
func (v *versionName) UnmarshalYAML(n *yaml.Node) error {
	id, err := ParseVersion(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*v = versionName(id)
	return nil
}

type suiteName uint16

// UnmarshalYAML parses a cipher suite name, reporting the line of a bad one.
func (s *suiteName) UnmarshalYAML(n *yaml.Node) error {
	id, err := ParseCipherSuite(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = suiteName(id)
	return nil
}

type groupName tls.CurveID

// UnmarshalYAML parses a group name, reporting the line of a bad one.
func (g *groupName) UnmarshalYAML(n *yaml.Node) error {
	id, err := ParseGroup(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*g = groupName(id)
	return nil
}

type signatureName x509.SignatureAlgorithm

// UnmarshalYAML parses a signature algorithm name, reporting the line of a
// bad one.
func (a *signatureName) UnmarshalYAML(n *yaml.Node) error {
	id, err := ParseSignatureAlgorithm(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*a = signatureName(id)
	return nil
}

// LoadProfileFile reads a custom profile from a YAML file. See ParseProfile
// for the format.
func LoadProfileFile(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read TLS profile: %w", err)
	}
	p, err := ParseProfile(data)
	if err != nil {
		return nil, fmt.Errorf("TLS profile %s: %w", path, err)
	}
	return p, nil
}

// ParseProfile parses a custom profile from YAML and validates it. Unknown
// keys, wrong types and unknown names are errors that carry their line; a
// profile weaker than Validate allows is refused with the rule it breaks.
//
//	name: internal-services        # required
//	base: baseline                 # optional built-in profile to start from
//	min_version: "1.2"
//	max_version: "1.3"
//	cipher_suites: [ECDHE-ECDSA-AES256-GCM-SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]
//	tls13_cipher_suites: [TLS_AES_256_GCM_SHA384]
//	groups: [X25519MLKEM768, X25519, P-256]
//	keys: {min_rsa_bits: 3072, ecdsa_curves: [P-256, P-384], ed25519: true}
//	signature_algorithms: [ECDSA-SHA256, SHA256-RSAPSS, Ed25519]
func ParseProfile(data []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f profileFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("empty profile")
		}
		return nil, fmt.Errorf("parse: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("more than one YAML document: a profile file holds one profile")
	}
	p := &Profile{}
	if f.Base != "" {
		base, err := Builtin(f.Base)
		if err != nil {
			return nil, fmt.Errorf("base: %w", err)
		}
		p = base
	}
	p.Name = f.Name
	if f.MinVersion != nil {
		p.MinVersion = uint16(*f.MinVersion)
	}
	if f.MaxVersion != nil {
		p.MaxVersion = uint16(*f.MaxVersion)
	}
	if f.CipherSuites != nil {
		p.CipherSuites = convert[suiteName, uint16](f.CipherSuites)
	}
	if f.TLS13CipherSuites != nil {
		p.TLS13CipherSuites = convert[suiteName, uint16](f.TLS13CipherSuites)
	}
	if f.Groups != nil {
		p.Groups = convert[groupName, tls.CurveID](f.Groups)
	}
	if f.Keys != nil {
		p.Keys = KeyPolicy{MinRSABits: f.Keys.MinRSABits, ECDSACurves: slices.Clone(f.Keys.ECDSACurves), Ed25519: f.Keys.Ed25519}
	}
	if f.SignatureAlgorithms != nil {
		p.SignatureAlgorithms = convert[signatureName, x509.SignatureAlgorithm](f.SignatureAlgorithms)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("refused: %w", err)
	}
	return p, nil
}

func convert[From ~uint16 | ~int, To ~uint16 | ~int](in []From) []To {
	out := make([]To, len(in))
	for i, v := range in {
		out[i] = To(v)
	}
	return out
}

// LoadProfile returns the built-in profile called nameOrPath, or else loads
// the custom profile file at that path.
func LoadProfile(nameOrPath string) (*Profile, error) {
	if slices.Contains(BuiltinNames(), nameOrPath) {
		return Builtin(nameOrPath)
	}
	if _, err := os.Stat(nameOrPath); err != nil {
		return nil, fmt.Errorf("TLS profile %q is neither a built-in profile %v nor a readable file: %w", nameOrPath, BuiltinNames(), err)
	}
	return LoadProfileFile(nameOrPath)
}
