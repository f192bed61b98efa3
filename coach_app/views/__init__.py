"""Pure presentation maths for the pages: month grids, week-grid positions,
clock labels. No Reflex and no database, so each piece is unit-tested alone."""
