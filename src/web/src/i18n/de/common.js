// German: messages shared by every screen.
export default {
  'Loading…': 'Wird geladen…',
};
