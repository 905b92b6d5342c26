package icmpwatch

import "strconv"

// The ICMP and ICMPv6 types sockit names (RFC 792, RFC 4443, RFC 4861).
const (
	TypeEchoReply      = 0
	TypeUnreachable    = 3
	TypeSourceQuench   = 4
	TypeRedirect       = 5
	TypeEchoRequest    = 8
	TypeTimeExceeded   = 11
	TypeParamProblem   = 12
	Type6Unreachable   = 1
	Type6PacketTooBig  = 2
	Type6TimeExceeded  = 3
	Type6ParamProblem  = 4
	Type6EchoRequest   = 128
	Type6EchoReply     = 129
	CodePortUnreach    = 3 // ICMP destination unreachable: port unreachable
	Code6PortUnreach   = 4 // ICMPv6 destination unreachable: port unreachable
	codeFragNeeded     = 4
	codeHostUnreach    = 1
	codeNetUnreach     = 0
	codeProtoUnreach   = 2
	codeAdminProhibit  = 13
	code6NoRoute       = 0
	code6AdminProhibit = 1
	code6BeyondScope   = 2
	code6AddrUnreach   = 3
)

// Text names an ICMP (v6 false) or ICMPv6 message in plain words: "port
// unreachable", "echo request", "time exceeded: TTL ran out in transit".
func Text(v6 bool, typ, code uint8) string {
	if v6 {
		return text6(typ, code)
	}
	switch typ {
	case TypeEchoReply:
		return "echo reply"
	case TypeEchoRequest:
		return "echo request"
	case TypeUnreachable:
		switch code {
		case codeNetUnreach:
			return "network unreachable"
		case codeHostUnreach:
			return "host unreachable"
		case codeProtoUnreach:
			return "protocol unreachable"
		case CodePortUnreach:
			return "port unreachable"
		case codeFragNeeded:
			return "fragmentation needed (the packet is too big for the path)"
		case codeAdminProhibit, 9, 10:
			return "destination unreachable: administratively prohibited (a firewall)"
		}
		return "destination unreachable (code " + strconv.Itoa(int(code)) + ")"
	case TypeSourceQuench:
		return "source quench"
	case TypeRedirect:
		return "redirect"
	case TypeTimeExceeded:
		if code == 1 {
			return "time exceeded: fragment reassembly"
		}
		return "time exceeded: TTL ran out in transit"
	case TypeParamProblem:
		return "parameter problem"
	case 13:
		return "timestamp request"
	case 14:
		return "timestamp reply"
	}
	return "ICMP type " + strconv.Itoa(int(typ)) + " code " + strconv.Itoa(int(code))
}

func text6(typ, code uint8) string {
	switch typ {
	case Type6Unreachable:
		switch code {
		case code6NoRoute:
			return "no route to destination"
		case code6AdminProhibit:
			return "destination unreachable: administratively prohibited (a firewall)"
		case code6BeyondScope:
			return "destination beyond the scope of the source address"
		case code6AddrUnreach:
			return "address unreachable"
		case Code6PortUnreach:
			return "port unreachable"
		}
		return "destination unreachable (code " + strconv.Itoa(int(code)) + ")"
	case Type6PacketTooBig:
		return "packet too big"
	case Type6TimeExceeded:
		if code == 1 {
			return "time exceeded: fragment reassembly"
		}
		return "time exceeded: hop limit ran out in transit"
	case Type6ParamProblem:
		return "parameter problem"
	case Type6EchoRequest:
		return "echo request"
	case Type6EchoReply:
		return "echo reply"
	case 133:
		return "router solicitation"
	case 134:
		return "router advertisement"
	case 135:
		return "neighbor solicitation"
	case 136:
		return "neighbor advertisement"
	case 137:
		return "redirect"
	case 143:
		return "multicast listener report"
	}
	return "ICMPv6 type " + strconv.Itoa(int(typ)) + " code " + strconv.Itoa(int(code))
}
