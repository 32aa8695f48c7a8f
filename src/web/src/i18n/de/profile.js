// German: one's own profile and the form to change it.
export default {
  'Your profile': 'Ihr Profil',
  'Your name and bio': 'Ihr Name und Ihre Beschreibung',
  'Bio': 'Beschreibung',
  'A few words about you, up to 2000 characters. Everyone who is logged in can read it.':
    'Ein paar Worte über Sie, bis zu 2000 Zeichen. Alle, die angemeldet sind, können sie lesen.',
  'Saving…': 'Wird gespeichert…',
  'Save': 'Speichern',
  'Saved.': 'Gespeichert.',
  'Your bio can have at most 2000 characters. It has {n} character.': [
    'Ihre Beschreibung darf höchstens 2000 Zeichen haben. Sie hat {n} Zeichen.',
    'Ihre Beschreibung darf höchstens 2000 Zeichen haben. Sie hat {n} Zeichen.',
  ],
  'Your bio contains characters that cannot be used.': 'Ihre Beschreibung enthält Zeichen, die nicht erlaubt sind.',
};
