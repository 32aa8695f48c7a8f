// German: logging in and registering, and the field rules.
export default {
  'Log in': 'Anmelden',
  'Logging in…': 'Anmeldung läuft…',
  'New here?': 'Neu hier?',
  'Create an account': 'Konto erstellen',
  'Create account': 'Konto erstellen',
  'Creating your account…': 'Ihr Konto wird erstellt…',
  'Already have an account?': 'Sie haben schon ein Konto?',
  'At least 8 characters.': 'Mindestens 8 Zeichen.',
  'Enter your first name.': 'Geben Sie Ihren Vornamen ein.',
  'Your first name can have at most 100 characters.': 'Ihr Vorname darf höchstens 100 Zeichen haben.',
  'Your first name contains characters that cannot be used.':
    'Ihr Vorname enthält Zeichen, die nicht erlaubt sind.',
  'Enter your last name.': 'Geben Sie Ihren Nachnamen ein.',
  'Your last name can have at most 100 characters.': 'Ihr Nachname darf höchstens 100 Zeichen haben.',
  'Your last name contains characters that cannot be used.':
    'Ihr Nachname enthält Zeichen, die nicht erlaubt sind.',
  'Enter your email address.': 'Geben Sie Ihre E-Mail-Adresse ein.',
  'This email address is too long.': 'Diese E-Mail-Adresse ist zu lang.',
  'Enter a password.': 'Geben Sie ein Passwort ein.',
  'Enter your password.': 'Geben Sie Ihr Passwort ein.',
  'Use at least 8 characters. This password has {n} character.': [
    'Verwenden Sie mindestens 8 Zeichen. Dieses Passwort hat {n} Zeichen.',
    'Verwenden Sie mindestens 8 Zeichen. Dieses Passwort hat {n} Zeichen.',
  ],
  'This password is too long.': 'Dieses Passwort ist zu lang.',
};
