import { connect } from 'react-redux';
import ConnectionBanner from './ConnectionBanner.jsx';
import { selectConnection } from './connectionSlice.js';

// `socket` is the tab's socket (app/store.js), passed in by the App.
const mapStateToProps = (state) => ({ status: selectConnection(state).status });
const mapDispatchToProps = (_dispatch, { socket }) => ({ onReconnect: () => socket.reconnectNow() });

export default connect(mapStateToProps, mapDispatchToProps)(ConnectionBanner);
