"""Language representation in multilingual BERT (Liu, Hsu, Chuang, Li, Lee, 2020).

Language means R_L^l (Sec. 2), Zero-mean (Eq. 1), Mean Difference Shift (Eq. 2 and Sec. 3.1), unsupervised token
translation (Table 1, Figures 1-2, Tables 6-7), sentence retrieval (Tables 2-3) and zero-shot POS tagging (Table 4).
"""
