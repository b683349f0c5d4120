# seg_reco: PGXS build (PostgreSQL 15, OpenBLAS)
EXTENSION   = seg_reco
EXTVERSION  = 0.1.0
MODULE_big  = seg_reco
OBJS        = src/seg_reco.o src/parallel.o src/memory.o src/rfm.o src/demo_data.o src/linalg.o src/kmeans.o src/gmm.o src/silhouette.o src/btyd.o src/als.o src/recommend.o src/model_store.o src/tfidf.o src/evaluate.o

DATA        = $(wildcard sql/seg_reco--*.sql)

# pg_regress inputs live in sql/<name>.sql, outputs in expected/<name>.out
REGRESS      = rfm rfm_parallel refresh demo_data btyd btyd_cdnow kmeans gmm silhouette als als_demo content coldstart evaluate hybrid evaluate_run sources
REGRESS_OPTS = --inputdir=. --outputdir=. --load-extension=seg_reco

PG_CONFIG   ?= pg_config
PG_CPPFLAGS += -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread
SHLIB_LINK  += -lopenblas -lm -lpthread
# warnings are errors only where asked for (CI passes WERROR=1)
ifdef WERROR
PG_CFLAGS   += -Werror
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# ALS's sparse inner loops (dot/axpy over each customer's products) run 35%
# faster at -O3 (vectorized with SSE2, still no -march); only this object
src/als.o: override CFLAGS += -O3
# the small distance kernel of k-means (seg_reco_sqdist_small) likewise
src/linalg.o: override CFLAGS += -O3

# PGXS does not track header dependencies: rebuild every object when a
# header changes (structs shared between files must never go stale)
$(OBJS): $(wildcard src/*.h)
