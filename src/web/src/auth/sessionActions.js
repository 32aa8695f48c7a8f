// Actions about the session that other slices react to. They live apart from
// authSlice so that slices can import them without import cycles.
import { createAction } from '@reduxjs/toolkit';

// The session is gone: logged out here, in another tab (socket closed with
// 4001) or expired. Everything that belonged to it is dropped.
export const sessionEnded = createAction('session/ended');
