"""A small bundled list of the most common passwords and password stems (lower case).

The policy refuses a password that is, or is built around, one of these (A6R-6: credentials
commensurate with the risk). A deployment can add a larger list; this one keeps the obvious out.
"""

COMMON_PASSWORDS = frozenset(
    """
123456 123456789 12345678 12345 1234567 1234567890 123123 111111 000000 654321 666666 121212
112233 123321 987654321 1q2w3e4r 1q2w3e4r5t qwerty qwerty123 qwertyuiop asdfgh asdfghjkl zxcvbnm
password password1 password123 passw0rd p@ssw0rd p@ssword pa55word letmein welcome welcome1
admin admin123 administrator root toor login master secret changeme default guest test test123
iloveyou princess sunshine football baseball dragon monkey shadow superman batman trustno1
abc123 abcdef abcd1234 aa123456 starwars whatever freedom hello hello123 charlie donald michael
jennifer jordan hunter harley ranger buster soccer hockey killer george andrew thomas robert
daniel jessica pepper ginger summer winter spring autumn flower cookie chocolate computer
internet samsung google apple orange banana secret123 mypassword qazwsx zaq12wsx 1qaz2wsx
registry registry123 climate carbon unfccc paris2015 parisagreement article6 itmo itmos
correcthorsebatterystaple ilovey0u passwordpassword qwertyqwerty adminadmin letmein123
welcome123 changeme123 password12 password1234 qwerty1234 1234qwer q1w2e3r4 q1w2e3r4t5y6
""".split()
)
