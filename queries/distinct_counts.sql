-- Distinct and non-null counts of several columns in one scan (role inference).
SELECT {parts} FROM {view}
