// German: messages shared by every screen — field labels, the API's
// errors in plain words, waiting.
export default {
  'Loading…': 'Wird geladen…',
  'Munity': 'Munity',
  'Try again': 'Erneut versuchen',
  'Something went wrong.': 'Etwas ist schiefgegangen.',
  'Email': 'E-Mail',
  'Password': 'Passwort',
  'First name': 'Vorname',
  'Last name': 'Nachname',
  'Show password': 'Passwort anzeigen',
  'Too many attempts. Try again later.': 'Zu viele Versuche. Versuchen Sie es später noch einmal.',
  'Too many attempts. Try again in {n} second.': [
    'Zu viele Versuche. Versuchen Sie es in {n} Sekunde noch einmal.',
    'Zu viele Versuche. Versuchen Sie es in {n} Sekunden noch einmal.',
  ],
  'Too many attempts. Try again in {n} minute.': [
    'Zu viele Versuche. Versuchen Sie es in {n} Minute noch einmal.',
    'Zu viele Versuche. Versuchen Sie es in {n} Minuten noch einmal.',
  ],
  'Cannot reach Munity. Check your connection and try again.':
    'Munity ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es noch einmal.',
  'The email address or the password is wrong.': 'Die E-Mail-Adresse oder das Passwort ist falsch.',
  'An account with this email address already exists. Log in instead?':
    'Zu dieser E-Mail-Adresse gibt es schon ein Konto. Möchten Sie sich stattdessen anmelden?',
  'Enter your first name, at most 100 characters.': 'Geben Sie Ihren Vornamen ein, höchstens 100 Zeichen.',
  'Enter your last name, at most 100 characters.': 'Geben Sie Ihren Nachnamen ein, höchstens 100 Zeichen.',
  'Enter an email address like name@example.org.': 'Geben Sie eine E-Mail-Adresse wie name@example.org ein.',
  'Use a password of at least 8 characters.': 'Wählen Sie ein Passwort mit mindestens 8 Zeichen.',
  'Your bio can have at most 2000 characters.': 'Ihre Beschreibung darf höchstens 2000 Zeichen haben.',
  'Munity is busy right now. Try again in a moment.':
    'Munity ist gerade ausgelastet. Versuchen Sie es gleich noch einmal.',
  'Munity cannot reach its database right now. Try again in a moment.':
    'Munity erreicht seine Datenbank gerade nicht. Versuchen Sie es gleich noch einmal.',
  'Your session has ended. Log in again.': 'Ihre Sitzung ist abgelaufen. Melden Sie sich erneut an.',
  'Munity has no room to store this right now. Try again later.':
    'Munity hat gerade keinen Platz, um das zu speichern. Versuchen Sie es später noch einmal.',
  'The server answered {status}. Try again later.':
    'Der Server hat mit {status} geantwortet. Versuchen Sie es später noch einmal.',
};
