// German: Online now, faces, the connection, profiles and pictures.
export default {
  // Online now
  'Finding out who is here…': 'Wer ist da? Einen Moment…',
  'Only you are here right now.': 'Gerade bist nur du da.',
  '{n} person is here right now.': ['{n} Person ist gerade da.', '{n} Personen sind gerade da.'],
  'Last updated {ago}.': 'Zuletzt aktualisiert {ago}.',
  'This list may be out of date.': 'Diese Liste ist vielleicht nicht aktuell.',
  'Nobody online matches “{query}”.': 'Niemand online passt zu „{query}“.',
  '{n} person matches “{query}”.': ['{n} Person passt zu „{query}“.', '{n} Personen passen zu „{query}“.'],
  'Search by name': 'Nach Namen suchen',
  'Order': 'Reihenfolge',
  'A–Z': 'A–Z',
  'Recently joined': 'Zuletzt gekommen',
  'Compact list': 'Kompakte Liste',
  'With this many people online, the list is in A–Z order, and the search looks for the name as you type it.':
    'Bei so vielen Personen online ist die Liste von A bis Z geordnet, und die Suche findet den Namen so, wie du ihn schreibst.',
  'People online now': 'Personen, die jetzt online sind',
  '(you)': '(du)',
  'Idle': 'Abwesend',
  '{name}, online': '{name}, online',
  '{name}, idle': '{name}, abwesend',
  '{name} (you), online': '{name} (du), online',
  '{name} (you), idle': '{name} (du), abwesend',
  '{name} joined': '{name} ist gekommen',
  '{name} left': '{name} ist gegangen',

  // Faces
  'Picture of {name}': 'Bild von {name}',
  '{name} has no picture': '{name} hat kein Bild',

  // The connection
  'Reconnecting… The list may be out of date until the connection is back.':
    'Verbindung wird wiederhergestellt… Bis dahin ist die Liste vielleicht nicht aktuell.',
  'Try now': 'Jetzt versuchen',
  'An administrator disconnected you. The list is no longer updated.':
    'Eine Administratorin oder ein Administrator hat dich getrennt. Die Liste wird nicht mehr aktualisiert.',
  'Reconnect': 'Wieder verbinden',

  // Profiles
  'Online, but idle': 'Online, aber abwesend',
  'Online for {duration}': 'Bereits {duration} online',
  'Online for {duration}, but idle': 'Bereits {duration} online, aber abwesend',
  'Last seen just now': 'Zuletzt gesehen: gerade eben',
  'Last seen {ago}': 'Zuletzt gesehen {ago}',
  'Not online': 'Nicht online',
  'You have not written a bio yet.': 'Du hast noch nichts über dich geschrieben.',
  'No bio yet.': 'Noch keine Beschreibung.',
  'Edit your profile': 'Profil bearbeiten',
  'No such user': 'Unbekannte Person',
  'Cannot show this profile': 'Dieses Profil kann nicht angezeigt werden',
  'There is no user with this number.': 'Es gibt niemanden mit dieser Nummer.',
  'Back to Online now': 'Zurück zu „Jetzt online“',
  'Loading the profile…': 'Profil wird geladen…',

  // Pictures
  'Your picture': 'Dein Bild',
  'New picture': 'Neues Bild',
  'PNG, JPEG, WebP or GIF, up to 5 MiB. It is uploaded as soon as you choose it.':
    'PNG, JPEG, WebP oder GIF, bis 5 MiB. Es wird hochgeladen, sobald du es auswählst.',
  'Remove picture': 'Bild entfernen',
  'Uploading…': 'Wird hochgeladen…',
  'Picture updated.': 'Bild aktualisiert.',
  'Removing…': 'Wird entfernt…',
  'Picture removed.': 'Bild entfernt.',
  'Choose a PNG, JPEG, WebP or GIF picture.': 'Wähle ein Bild im Format PNG, JPEG, WebP oder GIF.',
  'The picture is larger than 5 MiB.': 'Das Bild ist größer als 5 MiB.',
};
